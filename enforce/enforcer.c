// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <string.h>
#include "enforcer.h"

const struct enforcer_ops *const enforcer_table[NR_ENFORCERS] = {
	[ENFORCER_CGROUP] = &cgroup_enforcer_ops,
	[ENFORCER_BALLOON] = &balloon_enforcer_ops,
	[ENFORCER_NUMA] = &numa_enforcer_ops,
};

size_t enforcers_init(struct enforcer e[NR_ENFORCERS], int cgroup_root_fd,
		      unsigned int write_timeout_ms)
{
	size_t usable = 0;

	for (int i = 0; i < NR_ENFORCERS; i++) {
		e[i] = (struct enforcer){
			.ops = enforcer_table[i],
			.id = (enum enforcer_id)i,
			.cgroup_root_fd = cgroup_root_fd,
			.write_timeout_ms = write_timeout_ms,
			.sysfs_node_dir = "/sys/devices/system/node",
		};
		e[i].usable = !e[i].ops->probe(&e[i], e[i].why, sizeof(e[i].why));
		usable += e[i].usable;
	}
	return usable;
}

int enforcer_id_by_name(const char *name)
{
	for (int i = 0; i < NR_ENFORCERS; i++)
		if (!strcmp(enforcer_table[i]->name, name))
			return i;
	return -ENOENT;
}
