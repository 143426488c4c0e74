// A model server swapgate started: `/bin/sh -c "exec COMMAND"` in its own
// process group, stdin from /dev/null, stdout and stderr into a pipe the driver
// reads (and forwards to swapgate's stderr), no inherited descriptors, and
// PR_SET_PDEATHSIG so it dies with swapgate even when swapgate is SIGKILLed.
//
// Limits, documented in the README: PDEATHSIG reaches the direct child (the
// `exec` keeps that the server itself); grandchildren it forks are killed with
// the process group on every orderly stop, but not after a SIGKILL of swapgate.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>

namespace swapgate::proxy {

class child_process {
public:
    // Starts it; nullptr with `why` when fork/pipe fails.
    static std::unique_ptr<child_process> spawn(const std::string& command,
                                                const std::map<std::string, std::string>& env, std::string& why);
    ~child_process();  // SIGKILLs the group and reaps it if it still runs
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    pid_t pid() const { return pid_; }
    // Readable once the process exited (pidfd); -1 where pidfd_open is unavailable.
    int exit_fd() const { return pidfd_; }
    // The read end of the stdout+stderr pipe; the caller takes it over (-1 after).
    int take_output_fd();
    void signal_group(int sig);
    // Reaps the process if it exited; its wait status (as waitpid gives it).
    std::optional<int> try_reap();
    bool reaped() const { return reaped_; }
    // Resident memory of the process in MB (0 when unknown).
    long long rss_mb() const;

private:
    child_process() = default;
    pid_t pid_ = -1;
    int pidfd_ = -1;
    int out_fd_ = -1;
    bool reaped_ = false;
};

// "exited with status 1" / "killed by signal 9 (Killed)".
std::string describe_wait_status(int status);

// A loopback port nothing listens on right now (bind port 0, read it, close).
int pick_free_port();

}  // namespace swapgate::proxy
