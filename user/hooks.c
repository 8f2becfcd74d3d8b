// SPDX-License-Identifier: GPL-2.0-only
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/btf.h>
#include "hooks.h"

const struct hook hooks[] = {
	{ "page_fault_user", "exceptions", .has_raw = true },
	{ "mm_page_alloc", "kmem", .has_raw = true, .raw_is_node_blind = true },
	{ "kvm_page_fault", "kvm", .has_raw = true },
	{ "kvm_mmu_set_spte", "kvmmmu", .has_raw = true },
	{ "kvm_mmu_split_huge_page", "kvmmmu", .has_raw = true },
	{ "kvm_unmap_hva_range", "kvm", .has_raw = true },
	{ "kvm_age_hva", "kvm", .has_raw = true },
	{ "kvm_try_async_get_page", "kvm", .has_raw = true },
	{ "mm_vmscan_memcg_reclaim_begin", "vmscan", .has_raw = true },
};
const size_t nr_hooks = sizeof(hooks) / sizeof(hooks[0]);

const char *hook_state_name(enum hook_state state)
{
	switch (state) {
	case HOOK_RAW:
		return "raw";
	case HOOK_TP:
		return "tp";
	case HOOK_MISSING:
		return "missing";
	case HOOK_OFF:
		return "off";
	case HOOK_FAILED:
		return "failed";
	}
	return "?";
}

bool hook_state_live(enum hook_state state)
{
	return state == HOOK_RAW || state == HOOK_TP;
}

const struct hook *hook_find(const char *name)
{
	for (size_t i = 0; i < nr_hooks; i++)
		if (!strcmp(hooks[i].name, name))
			return &hooks[i];
	return NULL;
}

bool hook_in_kernel(struct btf *const *btfs, const char *name)
{
	char type[128];

	snprintf(type, sizeof(type), "btf_trace_%s", name);
	for (; *btfs; btfs++)
		if (btf__find_by_name_kind(*btfs, type, BTF_KIND_TYPEDEF) > 0)
			return true;
	return false;
}

void kernel_btfs_free(struct btf **btfs)
{
	size_t n = 0;

	if (!btfs)
		return;
	while (btfs[n])
		n++;
	/* Modules are split BTF on top of vmlinux: free them before their base. */
	while (n--)
		btf__free(btfs[n]);
	free(btfs);
}

static int btfs_append(struct btf ***btfs, size_t *n, struct btf *btf)
{
	struct btf **grown = realloc(*btfs, (*n + 2) * sizeof(**btfs));

	if (!grown)
		return -ENOMEM;
	grown[(*n)++] = btf;
	grown[*n] = NULL;
	*btfs = grown;
	return 0;
}

struct btf **kernel_btfs_load(const char *btf_dir)
{
	struct btf **btfs = NULL, *vmlinux, *mod;
	char path[4096];
	struct dirent *de;
	size_t n = 0;
	DIR *dir = NULL;
	int err;

	snprintf(path, sizeof(path), "%s/vmlinux", btf_dir);
	vmlinux = btf__parse(path, NULL);
	if (!vmlinux) {
		err = -errno;
		goto fail;
	}
	err = btfs_append(&btfs, &n, vmlinux);
	if (err) {
		btf__free(vmlinux);
		goto fail;
	}
	dir = opendir(btf_dir);
	if (!dir) {
		err = -errno;
		goto fail;
	}
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "vmlinux"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", btf_dir, de->d_name);
		mod = btf__parse_split(path, vmlinux);
		if (!mod)
			continue; /* a module without usable BTF has no hooks for us */
		err = btfs_append(&btfs, &n, mod);
		if (err) {
			btf__free(mod);
			goto fail;
		}
	}
	closedir(dir);
	return btfs;
fail:
	if (dir)
		closedir(dir);
	kernel_btfs_free(btfs);
	errno = -err;
	return NULL;
}
