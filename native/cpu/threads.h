// The OS's limits on threads, checked before a CPU OpenMP team starts. libgomp has no way to
// fail cleanly: when pthread_create refuses a team thread it prints "libgomp: Thread creation
// failed" and exits the process from inside the parallel region (a segfault or a hang in Node).
// So the team of a thread is reserved first: the missing threads are created here, where a
// refusal becomes NativeError(Resources), and the team is started right after they are gone.
#pragma once
#include <string>

namespace autoscale {

// Makes sure the calling thread can run OpenMP regions of `threads` threads (itself included).
// The first call on a thread, or one asking for more threads than that thread's last team,
// creates the missing threads with pthread_create, joins them, waits until the OS has released
// them and starts the OpenMP team (libgomp keeps a thread's team between regions). Throws
// NativeError(Resources) with thread_limit_message() when the OS refuses one; nothing else
// changes then. Team starts are serialised in the process, so two models cannot both pass the
// check on the same free slots; another process of the same user can still take them in the
// instant between the check and the start. Every parallel region of the CPU ops uses the
// backend's `threads`, so a thread's later regions need no new threads.
void reserve_cpu_thread_team(int threads);

// The message for a thread the OS refused to start (error: the pthread_create / errno value):
// what was being started, the OS's reason, this process's thread count, the limits that apply
// (RLIMIT_NPROC, RLIMIT_AS, kernel.threads-max, the cgroup's pids.max) and the fixes.
std::string thread_limit_message(const std::string& what, int error);

}  // namespace autoscale
