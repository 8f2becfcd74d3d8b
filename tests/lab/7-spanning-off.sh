#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Lab test 7: test 5's scenario with NUMA spanning off. dynmemd places each guest on one node
# (the numa enforcer sets its cpuset.mems), plans each node against its own budget, and the
# test checks everything test 5 does, per node, plus that each guest's memory ends up on its
# node.
SPANNING=no exec "$(dirname "$0")/5-dynamic-memory.sh"
