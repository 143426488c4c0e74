// Memory a model server really holds on the GPU, from `nvidia-smi` when it is
// on the PATH (optional: looked up at run time, never linked). Used after a
// load of a `process` model on a GPU device: the observed figure replaces the
// configured or estimated `memory_mb` for later decisions.
#pragma once
#include "proxy/net/net.hpp"

#include <optional>
#include <string_view>
#include <vector>
#include <sys/types.h>

namespace swapgate::proxy {

// Whether an executable `nvidia-smi` is on the PATH (looked up once).
bool nvidia_smi_available();

// MB used by `root` and its descendants on any GPU, as `nvidia-smi
// --query-compute-apps=pid,used_memory` reports them; nullopt when nvidia-smi
// is absent, fails, takes more than 5 s, or lists none of those processes.
net::awaitable<std::optional<long long>> gpu_memory_mb(pid_t root);

// Parses that query's CSV output (no header, no units): the sum over the lines
// whose pid is in `pids` (sorted); nullopt when none is.
std::optional<long long> sum_for_pids(std::string_view csv, const std::vector<pid_t>& pids);

}  // namespace swapgate::proxy
