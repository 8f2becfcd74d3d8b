// SPDX-License-Identifier: GPL-2.0-only
/*
 * `dynmem top`: the live view, refreshed every second from dynmemd's control socket.
 * `--once` prints one frame as plain text. The terminal is restored on every way out,
 * signals included.
 */
#include <curses.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "ctl.h"
#include "top_model.h"
#include "verbs.h"

static const char top_usage[] =
	"usage: dynmem top [--once] [--interval MS] [--sort COLUMN] [--width N] [--socket PATH]\n"
	"  Live view of every VM: assigned, demand, availability, paging, large pages, NUMA.\n"
	"  --once     print one frame as plain text and exit (for scripts)\n"
	"  --width N  the frame's width with --once (default: $COLUMNS or 160)\n"
	"  --sort C   start sorted by column C (NAME, ASSIGNED, DEMAND, AVAIL, ...)\n"
	"  --socket   dynmemd's control socket (default $DYNMEM_SOCKET or " CONFIG_DEFAULT_SOCKET ")\n";

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

struct top_session {
	const char *socket;
	struct top_model model;
	struct top_view view;
	struct top_frame frame;
	char error[512];
};

static int refresh_model(struct top_session *s)
{
	char *reply = ctl_request(s->socket, "status", 2000);
	struct top_model m;
	int err;

	if (!reply) {
		snprintf(s->error, sizeof(s->error), "cannot reach dynmemd at %s: %s", s->socket,
			 strerror(errno));
		return -errno;
	}
	err = top_model_parse(reply, &m, s->error, sizeof(s->error));
	free(reply);
	if (err)
		return err;
	top_model_free(&s->model);
	s->model = m;
	s->error[0] = '\0';
	if (s->view.selected >= (int)m.nr_vms)
		s->view.selected = (int)m.nr_vms - 1;
	return 0;
}

static int print_once(struct top_session *s, int width)
{
	int err = refresh_model(s) ?: top_render(&s->model, &s->view, width, &s->frame);

	if (err) {
		fprintf(stderr, "dynmem top: %s\n", s->error[0] ? s->error : strerror(-err));
		return 1;
	}
	for (size_t i = 0; i < s->frame.nr_lines; i++)
		printf("%.*s\n", width, s->frame.lines[i].text);
	return 0;
}

static void draw(struct top_session *s)
{
	int rows, cols;

	getmaxyx(stdscr, rows, cols);
	erase();
	if (top_render(&s->model, &s->view, cols, &s->frame)) {
		mvaddstr(0, 0, "out of memory");
		refresh();
		return;
	}
	for (size_t i = 0; i < s->frame.nr_lines && (int)i < rows; i++) {
		const struct top_line *l = &s->frame.lines[i];
		int attr = l->attr == TOP_ATTR_HEADER ? A_BOLD | A_REVERSE :
			   l->attr == TOP_ATTR_SELECTED ? A_REVERSE : A_NORMAL;

		attron(attr);
		mvaddnstr((int)i, 0, l->text, cols);
		attroff(attr);
		if (l->red_from >= 0 && l->red_from < cols && has_colors()) {
			attron(COLOR_PAIR(1) | A_BOLD | (attr & A_REVERSE));
			mvaddnstr((int)i, l->red_from, l->text + l->red_from,
				  l->red_to - l->red_from);
			attroff(COLOR_PAIR(1) | A_BOLD | (attr & A_REVERSE));
		}
	}
	if (s->error[0])
		mvaddnstr(rows - 1, 0, s->error, cols);
	refresh();
}

static void handle_key(struct top_session *s, int ch)
{
	int n = (int)s->model.nr_vms;

	switch (ch) {
	case 'q': case 'Q': stop = 1; break;
	case KEY_DOWN: case 'j': s->view.selected = s->view.selected + 1 < n ? s->view.selected + 1 : n - 1; break;
	case KEY_UP: case 'k': s->view.selected = s->view.selected > 0 ? s->view.selected - 1 : 0; break;
	case '\n': case KEY_ENTER: case 'd': s->view.detail = !s->view.detail; break;
	case 's': s->view.sort = (enum top_column)((s->view.sort + 1) % TOP_NR_COLUMNS); break;
	case 'r': s->view.descending = !s->view.descending; break;
	default: break;
	}
}

static int live(struct top_session *s, int interval_ms)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	initscr();
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
	if (has_colors()) {
		start_color();
		use_default_colors();
		init_pair(1, COLOR_RED, -1);
	}
	s->view.selected = 0;
	refresh_model(s);
	while (!stop) {
		int ch;

		draw(s);
		timeout(interval_ms);
		ch = getch();
		if (ch == ERR) {
			refresh_model(s); /* a tick of the view: new data */
			continue;
		}
		handle_key(s, ch);
	}
	endwin();
	return 0;
}

static int sort_by(struct top_view *v, const char *want)
{
	for (int c = 0; c < TOP_NR_COLUMNS; c++)
		if (!strcasecmp(want, top_column_name((enum top_column)c))) {
			v->sort = (enum top_column)c;
			return 0;
		}
	fprintf(stderr, "dynmem top: no column '%s'; the columns:", want);
	for (int c = 0; c < TOP_NR_COLUMNS; c++)
		fprintf(stderr, " %s", top_column_name((enum top_column)c));
	fputc('\n', stderr);
	return -EINVAL;
}

int cmd_top(int argc, char **argv)
{
	struct top_session s = { .socket = getenv("DYNMEM_SOCKET") ?: CONFIG_DEFAULT_SOCKET,
				 .view = { .sort = TOP_COL_NAME, .selected = -1 } };
	int interval_ms = 1000, width = getenv("COLUMNS") ? atoi(getenv("COLUMNS")) : 160, rc;
	bool once = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--once"))
			once = true;
		else if (!strcmp(argv[i], "--interval") && i + 1 < argc)
			interval_ms = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--width") && i + 1 < argc)
			width = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			s.socket = argv[++i];
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(top_usage, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--sort") && i + 1 < argc) {
			if (sort_by(&s.view, argv[++i]))
				return 2;
		} else {
			fprintf(stderr, "dynmem top: unknown argument '%s'\n%s", argv[i], top_usage);
			return 2;
		}
	}
	if (interval_ms < 100 || width < 40) {
		fprintf(stderr, "dynmem top: --interval wants >= 100 ms, --width >= 40\n");
		return 2;
	}
	rc = once || !isatty(STDOUT_FILENO) ? print_once(&s, width) : live(&s, interval_ms);
	top_model_free(&s.model);
	top_frame_free(&s.frame);
	return rc;
}
