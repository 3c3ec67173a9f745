// curio/curio.hpp: everything of curio-cpp in one include.
// Core: Task, Kernel/run, spawn and task handles, TaskGroup, time and timeouts, cancellation,
// WaitQueue. Sync: Event, Lock, RLock, Semaphore, BoundedSemaphore, Condition, Result, queues.
// I/O: Socket, SocketAddress, SocketStream, FileStream. Network: open_connection, tcp_server...
// Threads: run_in_thread, block_in_thread, spawn_thread/AWAIT, UniversalQueue, UniversalEvent,
// UniversalResult. Processes: run_in_process, subprocess::{Popen, run, check_output}.
// Signals: SignalQueue, SignalEvent. Files: aopen/AsyncFile. HTTP: a strict HTTP/1.1 request
// parser and reader. Channel: Channel, Connection. Combinators: all, any. Observability:
// Activation, where, TaskLocal, the Monitor console.
// Parallel: run_parallel, spawn_on, call_on, kernel_index/kernel_count (one kernel per core).
// TLS: SslContext, SslStream, SslError, open_connection/tcp_server over TLS.
#pragma once

#include "curio/channel/channel.hpp"
#include "curio/core/activation.hpp"
#include "curio/core/cancellation.hpp"
#include "curio/core/combinators.hpp"
#include "curio/core/errors.hpp"
#include "curio/core/kernel.hpp"
#include "curio/core/log.hpp"
#include "curio/core/spawn.hpp"
#include "curio/core/task.hpp"
#include "curio/core/task_group.hpp"
#include "curio/core/task_local.hpp"
#include "curio/core/time.hpp"
#include "curio/core/wait_queue.hpp"
#include "curio/core/where.hpp"
#include "curio/file/async_file.hpp"
#include "curio/http/http.hpp"
#include "curio/io/socket.hpp"
#include "curio/io/socket_address.hpp"
#include "curio/io/stream.hpp"
#include "curio/monitor/monitor.hpp"
#include "curio/net/network.hpp"
#include "curio/parallel/kernels.hpp"
#include "curio/process/run_in_process.hpp"
#include "curio/process/subprocess.hpp"
#include "curio/signal/signals.hpp"
#include "curio/sync/condition.hpp"
#include "curio/sync/event.hpp"
#include "curio/sync/held.hpp"
#include "curio/sync/lock.hpp"
#include "curio/sync/queue.hpp"
#include "curio/sync/result.hpp"
#include "curio/sync/semaphore.hpp"
#include "curio/thread/run_in_thread.hpp"
#include "curio/thread/spawn_thread.hpp"
#include "curio/thread/universal_event.hpp"
#include "curio/thread/universal_queue.hpp"
#include "curio/tls/ssl_context.hpp"
#include "curio/tls/ssl_error.hpp"
#include "curio/tls/ssl_network.hpp"
#include "curio/tls/ssl_stream.hpp"
