/* rt_plan.c — what `train` decides at the end of each epoch beyond
 * reporting it: the learning rate of a plateau schedule, early stopping,
 * and whether this epoch's weights are the best so far (--checkpoint-best).
 * The flags (--schedule, --early-stop) override the model's train block;
 * "none" turns a setting off. All state is a few numbers that
 * rt_plan_save / rt_plan_load carry through the checkpoint's metadata, so a
 * resumed run makes the same decisions as an uninterrupted one. */
#include "nnrt.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A monitored metric this run can compute. */
static int check_monitor(const char *what, int metric, unsigned metrics, int has_val, RtError *e) {
  char name[32];
  rt_metric_name(metric, name, sizeof name);
  if (!(metrics & (1u << (metric % RT_MET_N))))
    return rt_fail(e, RT_EXIT_USAGE, "%s monitors %s, which this model's task does not have", what, name);
  if (metric >= RT_MET_N && !has_val)
    return rt_fail(e, RT_EXIT_USAGE,
                   "%s monitors %s but there is no validation set; give --val-split F or --validation-data DIR", what,
                   name);
  return 0;
}

int rt_plan_init(RtPlan *p, const NnrtModel *m, const RtOptions *o, unsigned metrics, int has_val, RtError *e) {
  memset(p, 0, sizeof *p);
  p->sched.kind = p->stop.kind = RT_SPEC_NONE;
  const char *sched = o->schedule ? o->schedule : m->schedule, *stop = o->early_stop ? o->early_stop : m->early_stop;
  if (sched && rt_spec_parse(o->schedule ? "--schedule" : "the train block's schedule", sched, 0, &p->sched, e))
    return -1;
  if (stop && rt_spec_parse(o->early_stop ? "--early-stop" : "the train block's early_stop", stop, 1, &p->stop, e))
    return -1;
  p->base_lr = p->plateau_lr = o->lr;
  if (p->sched.kind == RT_SPEC_PLATEAU) {
    rt_monitor_init(&p->plateau, (int)rt_spec_get(&p->sched, "monitor"), rt_spec_get(&p->sched, "min_delta"),
                    (int64_t)rt_spec_get(&p->sched, "patience"));
    if (check_monitor("the plateau schedule", p->plateau.metric, metrics, has_val, e)) return -1;
  }
  if (p->stop.kind == RT_SPEC_EARLY_STOP) {
    rt_monitor_init(&p->early, (int)rt_spec_get(&p->stop, "monitor"), rt_spec_get(&p->stop, "min_delta"),
                    (int64_t)rt_spec_get(&p->stop, "patience"));
    if (check_monitor("early stopping", p->early.metric, metrics, has_val, e)) return -1;
  }
  /* The best weights by early stopping's measure, else by validation loss
   * (training loss without a validation set). */
  p->keep_best = o->best_path != NULL;
  int best = p->stop.kind == RT_SPEC_EARLY_STOP ? p->early.metric : has_val ? RT_MET_N + RT_MET_LOSS : RT_MET_LOSS;
  rt_monitor_init(&p->best, best, 0, 0);
  return 0;
}

double rt_plan_lr(const RtPlan *p, int64_t epoch, int64_t step) {
  return rt_sched_lr(&p->sched, p->base_lr, p->plateau_lr, epoch, step, p->total_steps);
}

unsigned rt_plan_epoch_end(RtPlan *p, const double *values, int64_t epoch) {
  unsigned out = 0;
  if (p->sched.kind == RT_SPEC_PLATEAU && !rt_monitor_update(&p->plateau, values[p->plateau.metric], epoch) &&
      p->plateau.wait >= p->plateau.patience) {
    /* Keras's ReduceLROnPlateau: cut, then wait another `patience` epochs. */
    double min_lr = rt_spec_get(&p->sched, "min_lr");
    if (p->plateau_lr > min_lr) {
      double lr = p->plateau_lr * rt_spec_get(&p->sched, "factor");
      p->plateau_lr = lr > min_lr ? lr : min_lr;
      out |= RT_PLAN_LR_CUT;
    }
    p->plateau.wait = 0;
  }
  if (p->stop.kind == RT_SPEC_EARLY_STOP && !rt_monitor_update(&p->early, values[p->early.metric], epoch) &&
      p->early.wait >= p->early.patience) {
    p->stopped = epoch;
    out |= RT_PLAN_STOP;
  }
  if (rt_monitor_update(&p->best, values[p->best.metric], epoch)) out |= RT_PLAN_BEST;
  return out;
}

void rt_plan_save(const RtPlan *p, RtMeta *meta) {
  char v[256];
  rt_meta_set(meta, "schedule", rt_spec_format(&p->sched, v, sizeof v));
  rt_meta_set(meta, "early_stop", rt_spec_format(&p->stop, v, sizeof v));
  snprintf(v, sizeof v, "%.17g", p->plateau_lr);
  rt_meta_set(meta, "plateau_lr", v);
  rt_monitor_save(&p->plateau, v, sizeof v);
  rt_meta_set(meta, "plateau_monitor", v);
  rt_monitor_save(&p->early, v, sizeof v);
  rt_meta_set(meta, "early_stop_monitor", v);
  rt_monitor_save(&p->best, v, sizeof v);
  rt_meta_set(meta, "best_monitor", v);
  snprintf(v, sizeof v, "%lld", (long long)p->stopped);
  rt_meta_set(meta, "stopped_early", v);
}

int rt_plan_load(RtPlan *p, const RtMeta *meta, const RtOptions *o, RtError *e) {
  static const char *const keys[] = {"schedule", "early_stop"};
  const RtSpec *now[] = {&p->sched, &p->stop};
  int same_stop = 1;
  for (int i = 0; i < 2; i++) {
    const char *was = rt_meta_get(meta, keys[i]);
    char v[256];
    rt_spec_format(now[i], v, sizeof v);
    if (i == 1) same_stop = !was || strcmp(was, v) == 0;
    if (was && strcmp(was, v) != 0) /* a warning even with --quiet */
      fprintf(stderr,
              "%s: warning: resuming with %s %s, but the checkpoint was trained with %s; the run will not match an "
              "uninterrupted one\n",
              o->prog, keys[i], v, was);
  }
  /* A checkpoint from before schedules has none of these: fresh state. */
  const char *lr = rt_meta_get(meta, "plateau_lr"), *stopped = rt_meta_get(meta, "stopped_early");
  const char *mon[] = {rt_meta_get(meta, "plateau_monitor"), rt_meta_get(meta, "early_stop_monitor"),
                       rt_meta_get(meta, "best_monitor")};
  RtMonitor *dst[] = {&p->plateau, &p->early, &p->best};
  int bad = 0;
  if (lr && p->sched.kind == RT_SPEC_PLATEAU) {
    char *end;
    p->plateau_lr = strtod(lr, &end);
    bad |= *end != '\0' || !(p->plateau_lr > 0);
  }
  for (int i = 0; i < 3; i++)
    if (mon[i] && (i != 0 || p->sched.kind == RT_SPEC_PLATEAU) && (i != 1 || p->stop.kind == RT_SPEC_EARLY_STOP)) {
      RtMonitor m = *dst[i];
      bad |= rt_monitor_load(&m, mon[i]) != 0;
      /* Another monitor now (another early_stop, say): its numbers mean nothing here. */
      if (m.metric == dst[i]->metric) *dst[i] = m;
    }
  /* Stopped stays stopped, unless early stopping changed (more patience):
   * then training goes on, judged by the new rule from the next epoch. */
  if (stopped && p->stop.kind == RT_SPEC_EARLY_STOP) {
    char *end;
    long long s = strtoll(stopped, &end, 10);
    bad |= *end != '\0' || s < 0;
    p->stopped = same_stop ? s : 0;
  }
  if (bad) return rt_fail(e, RT_EXIT_USAGE, "%s: the schedule state in __metadata__ is damaged", o->ckpt_path);
  return 0;
}
