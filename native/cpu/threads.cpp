// The OS's limits on threads, and the reserved start of a CPU OpenMP team: see threads.h.
#include "threads.h"

#include <omp.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "../status.h"

namespace autoscale {

namespace {

std::mutex team_start_mutex;        // one team start at a time in this process (see threads.h)
thread_local int team_threads = 1;  // size of the calling thread's last OpenMP team, itself included

// The first line of a file, or "" when it cannot be read (no /proc, no cgroup file).
std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (in) std::getline(in, line);
  return line;
}

// The value of "Key:" in /proc/self/status, or "".
std::string proc_status_field(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size() + 1, key + ":") == 0) {
      const size_t start = line.find_first_not_of(" \t", key.size() + 1);
      return start == std::string::npos ? "" : line.substr(start);
    }
  }
  return "";
}

// The folder of this process's cgroup in the pids hierarchy (v2 unified or v1 "pids"), or "".
std::string pids_cgroup_dir() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {  // "id:controllers:path"
    const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), where = line.substr(b + 1);
    if (controllers.empty()) {
      struct stat st;
      if (stat(("/sys/fs/cgroup" + where + "/pids.max").c_str(), &st) == 0) return "/sys/fs/cgroup" + where;
    } else if (("," + controllers + ",").find(",pids,") != std::string::npos) {
      return "/sys/fs/cgroup/pids" + where;
    }
  }
  return "";
}

std::string rlimit_text(int resource, double unit, const char* unit_name) {
  struct rlimit limit;
  if (getrlimit(resource, &limit) != 0) return "unknown";
  if (limit.rlim_cur == RLIM_INFINITY) return "unlimited";
  std::ostringstream out;
  out << static_cast<unsigned long long>(static_cast<double>(limit.rlim_cur) / unit) << unit_name;
  return out.str();
}

// Probe threads wait here until every probe thread has been created, so that they all exist at
// once, as the team's threads will.
struct ProbeGate {
  std::mutex mutex;
  std::condition_variable open_cv;
  bool open = false;
  std::vector<long> tids;  // kernel thread ids, written by each probe thread
};

struct ProbeSlot {
  ProbeGate* gate;
  size_t index;
};

void* probe_thread_main(void* arg) {
  ProbeSlot* slot = static_cast<ProbeSlot*>(arg);
  std::unique_lock<std::mutex> lock(slot->gate->mutex);
  slot->gate->tids[slot->index] = static_cast<long>(syscall(SYS_gettid));
  slot->gate->open_cv.wait(lock, [slot] { return slot->gate->open; });
  return nullptr;
}

// pthread_join returns when a thread has stopped running, slightly before the kernel releases it
// and gives its slot under RLIMIT_NPROC / pids.max back: wait for that (its /proc task folder
// goes at the same time), for at most a second, so the team's threads find the slots free.
void wait_until_released(const std::vector<long>& tids) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  for (long tid : tids) {
    if (tid <= 0) continue;
    const std::string task = "/proc/self/task/" + std::to_string(tid);
    struct stat st;
    while (stat(task.c_str(), &st) == 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
}

struct ProbeResult {
  int error = 0;    // 0, or the error of the first pthread_create the OS refused
  int started = 0;  // threads started before it
};

// Creates `count` threads that exist together, then ends them.
ProbeResult probe_threads(int count) {
  ProbeGate gate;
  gate.tids.assign(static_cast<size_t>(count), 0);
  std::vector<ProbeSlot> slots(static_cast<size_t>(count));
  std::vector<pthread_t> started;
  started.reserve(static_cast<size_t>(count));
  int error = 0;
  for (int i = 0; i < count; i++) {
    slots[i] = ProbeSlot{&gate, static_cast<size_t>(i)};
    pthread_t thread;
    // Default attributes, as libgomp uses unless OMP_STACKSIZE is set: the same stack reservation.
    error = pthread_create(&thread, nullptr, probe_thread_main, &slots[i]);
    if (error != 0) break;
    started.push_back(thread);
  }
  {
    std::lock_guard<std::mutex> lock(gate.mutex);
    gate.open = true;
  }
  gate.open_cv.notify_all();
  for (pthread_t thread : started) pthread_join(thread, nullptr);
  wait_until_released(gate.tids);
  return ProbeResult{error, static_cast<int>(started.size())};
}

}  // namespace

std::string thread_limit_message(const std::string& what, int error) {
  std::ostringstream out;
  out << what << ": the OS refused to start a thread (" << std::strerror(error) << ")";
  const std::string running = proc_status_field("Threads");
  if (!running.empty()) out << "; this process runs " << running << " threads";
  out << ". Limits: max user processes " << rlimit_text(RLIMIT_NPROC, 1, "")
      << " (RLIMIT_NPROC, `ulimit -u`: threads of all this user's processes count)";
  const std::string threads_max = first_line("/proc/sys/kernel/threads-max");
  if (!threads_max.empty()) out << ", kernel.threads-max " << threads_max;
  const std::string cgroup = pids_cgroup_dir();
  if (!cgroup.empty()) {
    const std::string max = first_line(cgroup + "/pids.max"), current = first_line(cgroup + "/pids.current");
    if (!max.empty()) out << ", cgroup pids.max " << max << (current.empty() ? "" : " (in use: " + current + ")");
  }
  const std::string address_space = rlimit_text(RLIMIT_AS, 1024.0 * 1024.0, " MiB");
  if (address_space != "unlimited") out << ", virtual memory " << address_space << " (RLIMIT_AS, `ulimit -v`)";
  out << ". Fix: use fewer CPU threads per model (options.threads; threadsPerRun in a pipeline config), keep "
         "fewer models alive at once (dispose() the ones you are done with; concurrency in a pipeline "
         "config), or raise the limit (`ulimit -u`)";
  return out.str();
}

void reserve_cpu_thread_team(int threads) {
  if (threads < 1) threads = 1;
  if (threads <= team_threads) {
    team_threads = threads;  // a smaller team: libgomp ends the extra threads, it creates none
    return;
  }
  std::lock_guard<std::mutex> lock(team_start_mutex);
  const int missing = threads - team_threads;
  const ProbeResult probe = probe_threads(missing);
  if (probe.error != 0) {
    throw NativeError(ErrorCode::Resources,
                      thread_limit_message("starting an OpenMP team of " + std::to_string(threads) +
                                               " CPU threads (" + std::to_string(missing) +
                                               " new ones; the OS allowed " + std::to_string(probe.started) + ")",
                                           probe.error));
  }
#pragma omp parallel num_threads(threads)
  {
    // Empty: starting the team is the point (libgomp keeps its threads for this thread's regions).
  }
  team_threads = threads;
}

}  // namespace autoscale
