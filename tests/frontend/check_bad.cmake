# Runs nncheck on a bad program: it must exit 1 (RC, when given: a program
# with warnings only exits 0), and FileCheck must accept its stderr against
# the CHECK lines in the program itself.
#   cmake -DNNCHECK=... -DFILECHECK=... -DFILE=x.nn -DOUT=x.stderr [-DRC=0] -P check_bad.cmake
if(NOT DEFINED RC)
  set(RC 1)
endif()
execute_process(COMMAND ${NNCHECK} ${FILE} RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
file(WRITE ${OUT} "${err}")
if(NOT rc EQUAL RC)
  message(FATAL_ERROR "nncheck ${FILE} exited with '${rc}', expected ${RC}; stderr:\n${err}")
endif()
execute_process(COMMAND ${FILECHECK} ${FILE} INPUT_FILE ${OUT} RESULT_VARIABLE rc ERROR_VARIABLE fc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "FileCheck rejected the diagnostics of ${FILE}:\n${fc}\n--- stderr was:\n${err}")
endif()
