// SPDX-License-Identifier: GPL-2.0-only
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include "log.h"

static bool log_foreground = true;
static bool log_debug_on;

void log_setup(bool foreground, bool debug)
{
	log_foreground = foreground;
	log_debug_on = debug;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = { [LOG_LEVEL_ERR] = "error", [LOG_LEVEL_WARN] = "warning",
					     [LOG_LEVEL_INFO] = "info", [LOG_LEVEL_DEBUG] = "debug" };
	va_list ap;

	if (level == LOG_LEVEL_DEBUG && !log_debug_on)
		return;
	if (log_foreground) {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		fprintf(stderr, "%02d:%02d:%02d.%03ld dynmemd %s: ", tm.tm_hour, tm.tm_min,
			tm.tm_sec, ts.tv_nsec / 1000000, names[level]);
	} else {
		fprintf(stderr, "<%d>", level);
	}
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
