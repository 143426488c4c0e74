#include "proxy/swap/child_process.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace swapgate::proxy {

namespace {

void close_from(int first) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, first, ~0u, 0) == 0) return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = first; fd < (max > 0 ? max : 4096); ++fd) close(static_cast<int>(fd));
}

}  // namespace

std::unique_ptr<child_process> child_process::spawn(const std::string& command,
                                                    const std::map<std::string, std::string>& env,
                                                    std::string& why) {
    // Everything the child needs is built before fork: after it, only
    // async-signal-safe calls (the parent has threads).
    std::string script = "exec " + command;
    std::vector<std::string> env_strings;
    for (char** e = environ; e && *e; ++e) {
        std::string kv(*e);
        auto name = kv.substr(0, kv.find('='));
        if (!env.count(name)) env_strings.push_back(std::move(kv));
    }
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    const char* argv[] = {"/bin/sh", "-c", script.c_str(), nullptr};

    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        why = std::string("pipe: ") + std::strerror(errno);
        return nullptr;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        why = std::string("fork: ") + std::strerror(errno);
        close(pipefd[0]);
        close(pipefd[1]);
        return nullptr;
    }
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);  // swapgate died before the prctl
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        signal(SIGPIPE, SIG_DFL);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        close_from(3);
        execve("/bin/sh", const_cast<char* const*>(argv), envp.data());
        _exit(127);
    }
    setpgid(pid, pid);  // also from the parent, so signal_group works at once
    close(pipefd[1]);
    std::unique_ptr<child_process> c(new child_process);
    c->pid_ = pid;
    c->out_fd_ = pipefd[0];
#ifdef SYS_pidfd_open
    c->pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    if (c->pidfd_ >= 0) fcntl(c->pidfd_, F_SETFD, FD_CLOEXEC);
#endif
    return c;
}

child_process::~child_process() {
    if (!reaped_ && pid_ > 0) {
        kill(-pid_, SIGKILL);
        kill(pid_, SIGKILL);
        int st = 0;
        while (waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
        }
    }
    if (pidfd_ >= 0) close(pidfd_);
    if (out_fd_ >= 0) close(out_fd_);
}

int child_process::take_output_fd() {
    int fd = out_fd_;
    out_fd_ = -1;
    return fd;
}

void child_process::signal_group(int sig) {
    if (reaped_ || pid_ <= 0) return;
    if (kill(-pid_, sig) != 0) kill(pid_, sig);
}

std::optional<int> child_process::try_reap() {
    if (reaped_) return std::nullopt;
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
        reaped_ = true;
        // Whatever the server left behind in its group goes too.
        kill(-pid_, SIGKILL);
        return st;
    }
    return std::nullopt;
}

long long child_process::rss_mb() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/statm");
    long long pages_total = 0, pages_rss = 0;
    if (!(in >> pages_total >> pages_rss)) return 0;
    return pages_rss * sysconf(_SC_PAGESIZE) / (1024 * 1024);
}

std::string describe_wait_status(int status) {
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        int s = WTERMSIG(status);
        const char* name = strsignal(s);
        return "killed by signal " + std::to_string(s) + (name ? std::string(" (") + name + ")" : "");
    }
    return "ended (status " + std::to_string(status) + ")";
}

int pick_free_port() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    int port = 0;
    socklen_t len = sizeof a;
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

}  // namespace swapgate::proxy
