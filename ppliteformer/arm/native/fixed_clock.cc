// fixed_clock: a guest LD_PRELOAD used only while counting instructions. Paddle Lite's log
// lines print the wall-clock time, and formatting different times executes a different number
// of instructions (a few hundred), so the counts would vary from run to run without it.
#include <sys/time.h>
#include <time.h>

static const time_t kFixed = 1700000000;

extern "C" int gettimeofday(struct timeval* tv, void*) {
  if (tv) {
    tv->tv_sec = kFixed;
    tv->tv_usec = 0;
  }
  return 0;
}

extern "C" time_t time(time_t* out) {
  if (out) *out = kFixed;
  return kFixed;
}
