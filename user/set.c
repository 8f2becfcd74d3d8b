// SPDX-License-Identifier: GPL-2.0-only
/*
 * `dynmem set VM key=value...` on the daemon's side: validated like the config file and
 * by Hyper-V's rules for a running VM, persisted (overrides.c), applied at the next tick.
 * All or nothing: one bad pair and nothing changes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "daemon.h"
#include "log.h"
#include "overrides.h"

#define SET_MAX_PAIRS 16

static char *reply_error(const char *vm, const char *msg)
{
	json_object *o = json_object_new_object();
	char *text;
	char full[4800];

	snprintf(full, sizeof(full), "%s%s%s", vm ? vm : "", vm ? ": " : "", msg);
	json_object_object_add(o, "error", json_object_new_string(full));
	text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return text;
}

static struct config_vm *find(struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->cfg.nr_vms; i++)
		if (!strcmp(d->cfg.vms[i].name, name))
			return &d->cfg.vms[i];
	return NULL;
}

/* Splits "key=value" in place. */
static int split_pair(char *pair, char **ret_key, char **ret_value)
{
	char *eq = strchr(pair, '=');

	if (!eq || eq == pair)
		return -EINVAL;
	*eq = '\0';
	*ret_key = pair;
	*ret_value = eq + 1;
	return 0;
}

char *set_request(struct daemon *d, char *args)
{
	char *save = NULL, *name = strtok_r(args, " ", &save), *pairs[SET_MAX_PAIRS][2];
	char why[4600], *tok;
	struct config_vm *cfg, wanted;
	size_t n = 0;
	json_object *ok;
	char *text;

	cfg = name ? find(d, name) : NULL;
	if (!cfg)
		return reply_error(name, "no such VM in the config");
	wanted = *cfg;
	while ((tok = strtok_r(NULL, " ", &save))) {
		if (n == SET_MAX_PAIRS || split_pair(tok, &pairs[n][0], &pairs[n][1]))
			return reply_error(name, "want key=value pairs (at most 16)");
		if (config_vm_set(&wanted, pairs[n][0], pairs[n][1], why, sizeof(why)) ||
		    overrides_check(cfg, &wanted, pairs[n][0], why, sizeof(why)))
			return reply_error(NULL, why);
		n++;
	}
	if (!n)
		return reply_error(name, "nothing to set: give key=value pairs");
	if (config_vm_finish(&wanted, &d->cfg.host, why, sizeof(why)))
		return reply_error(NULL, why);
	for (size_t i = 0; i < n; i++) {
		int err = overrides_save(d->cfg.host.state_dir, name, pairs[i][0], pairs[i][1]);

		if (err) {
			snprintf(why, sizeof(why), "cannot persist it in %s: %s; nothing changed",
				 d->cfg.host.state_dir, strerror(-err));
			return reply_error(name, why);
		}
	}
	*cfg = wanted;
	vms_sync(d);
	ok = json_object_new_object();
	json_object_object_add(ok, "ok", json_object_new_boolean(1));
	json_object_object_add(ok, "vm", json_object_new_string(name));
	for (size_t i = 0; i < n; i++) {
		json_object_object_add(ok, pairs[i][0], json_object_new_string(pairs[i][1]));
		log_info("vm %s: set %s = %s (persisted in %s)", name, pairs[i][0], pairs[i][1],
			 d->cfg.host.state_dir);
	}
	text = strdup(json_object_to_json_string_ext(ok, JSON_C_TO_STRING_PLAIN));
	json_object_put(ok);
	return text;
}
