// curio/curio.hpp: everything of curio-cpp in one include.
// Core: Task, Kernel/run, spawn and task handles, TaskGroup, time and timeouts, cancellation,
// WaitQueue. Sync: Event, Lock, RLock, Semaphore, BoundedSemaphore, Condition, Result, queues.
// Further layers (io, net, workers) add their own headers here.
#pragma once

#include "curio/core/cancellation.hpp"
#include "curio/core/errors.hpp"
#include "curio/core/kernel.hpp"
#include "curio/core/spawn.hpp"
#include "curio/core/task.hpp"
#include "curio/core/task_group.hpp"
#include "curio/core/time.hpp"
#include "curio/core/wait_queue.hpp"

#include "curio/sync/condition.hpp"
#include "curio/sync/event.hpp"
#include "curio/sync/held.hpp"
#include "curio/sync/lock.hpp"
#include "curio/sync/queue.hpp"
#include "curio/sync/result.hpp"
#include "curio/sync/semaphore.hpp"
