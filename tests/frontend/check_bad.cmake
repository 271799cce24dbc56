# Runs nncheck on a bad program: it must exit 1, and FileCheck must accept
# its stderr against the CHECK lines in the program itself.
#   cmake -DNNCHECK=... -DFILECHECK=... -DFILE=x.nn -DOUT=x.stderr -P check_bad.cmake
execute_process(COMMAND ${NNCHECK} ${FILE} RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
file(WRITE ${OUT} "${err}")
if(NOT rc EQUAL 1)
  message(FATAL_ERROR "nncheck ${FILE} exited with '${rc}', expected 1; stderr:\n${err}")
endif()
execute_process(COMMAND ${FILECHECK} ${FILE} INPUT_FILE ${OUT} RESULT_VARIABLE rc ERROR_VARIABLE fc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "FileCheck rejected the diagnostics of ${FILE}:\n${fc}\n--- stderr was:\n${err}")
endif()
