// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "overrides.h"

const char *const overrides_keys[] = { "minimum", "maximum", "buffer", "weight", "numa", NULL };

static bool settable(const char *key)
{
	for (const char *const *k = overrides_keys; *k; k++)
		if (!strcmp(*k, key))
			return true;
	return false;
}

int overrides_check(const struct config_vm *now, const struct config_vm *wanted, const char *key,
		    char *err, size_t errlen)
{
	if (!settable(key)) {
		snprintf(err, errlen, "%s cannot change while the VM runs (it may: minimum down, "
				      "maximum up, buffer, weight, numa); edit the config and reload",
			 key);
		return -EPERM;
	}
	if (wanted->minimum_bytes > now->minimum_bytes) {
		snprintf(err, errlen, "minimum can only go down while the VM runs: a higher floor "
				      "may need memory already given to others; edit the config "
				      "and reload to raise it");
		return -EPERM;
	}
	if (wanted->maximum_bytes < now->maximum_bytes) {
		snprintf(err, errlen, "maximum can only go up while the VM runs: the guest may "
				      "hold more than a lower maximum; edit the config and reload");
		return -EPERM;
	}
	return 0;
}

static void file_of(char *buf, size_t len, const char *state_dir, const char *vm)
{
	snprintf(buf, len, "%s/%s.set", state_dir, vm);
}

/* "key = value" → key, value (trimmed); false for blank lines and comments. */
static bool split_line(char *line, char **ret_key, char **ret_value)
{
	char *eq = strchr(line, '='), *end;

	line[strcspn(line, "\r\n")] = '\0';
	if (!eq || line[0] == '#')
		return false;
	for (end = eq + strlen(eq); end > eq + 1 && (end[-1] == ' ' || end[-1] == '\t'); end--)
		end[-1] = '\0'; /* a hand-edited file may carry trailing blanks */
	*eq = '\0';
	for (end = eq; end > line && end[-1] == ' '; end--)
		end[-1] = '\0';
	for (eq++; *eq == ' '; eq++)
		;
	*ret_key = line;
	*ret_value = eq;
	return true;
}

int overrides_save(const char *state_dir, const char *vm, const char *key, const char *value)
{
	char path[4096], tmp[4200], line[512], *k, *v;
	FILE *in, *out;
	int err = 0;

	mkdir(state_dir, 0755);
	file_of(path, sizeof(path), state_dir, vm);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	out = fopen(tmp, "we");
	if (!out)
		return -errno;
	fprintf(out, "# dynmem set %s: applied over the config file; delete to go back to it\n", vm);
	in = fopen(path, "re");
	while (in && fgets(line, sizeof(line), in))
		if (split_line(line, &k, &v) && strcmp(k, key))
			fprintf(out, "%s = %s\n", k, v);
	if (in)
		fclose(in);
	fprintf(out, "%s = %s\n", key, value);
	if (fclose(out))
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

/* One VM's file onto a copy of its settings; the copy is kept only if all of it holds. */
static int apply_file(const char *path, struct config_vm *vm, const struct config_host *host,
		      char *err, size_t errlen)
{
	struct config_vm copy = *vm;
	char line[512], why[400], *k, *v;
	int n = 0, rc = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return errno == ENOENT ? 0 : -errno;
	while (!rc && fgets(line, sizeof(line), f)) {
		n++;
		if (split_line(line, &k, &v) && (rc = config_vm_set(&copy, k, v, why, sizeof(why))))
			snprintf(err, errlen, "%s:%d: %s", path, n, why);
	}
	fclose(f);
	if (!rc && (rc = config_vm_finish(&copy, host, why, sizeof(why))))
		snprintf(err, errlen, "%s: %s", path, why);
	if (!rc)
		*vm = copy;
	return rc;
}

int overrides_apply(const char *state_dir, struct config *cfg, char *err, size_t errlen)
{
	char path[4096], why[4600];
	int first = 0;

	for (size_t i = 0; i < cfg->nr_vms; i++) {
		int rc;

		file_of(path, sizeof(path), state_dir, cfg->vms[i].name);
		rc = apply_file(path, &cfg->vms[i], &cfg->host, why, sizeof(why));
		if (rc && !first) {
			first = rc;
			snprintf(err, errlen, "%s", why);
		}
	}
	return first;
}
