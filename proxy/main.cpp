// swapgate: an OpenAI-compatible reverse proxy for local LLM servers.
#include "proxy/app.hpp"

#include <cstdlib>
#include <iostream>
#include <string>

namespace {

const char* usage =
    "usage: swapgate [--config FILE] [--listen HOST:PORT] [--threads N]\n"
    "       swapgate check-config FILE\n"
    "       swapgate --version | --help\n"
    "\n"
    "The config file defaults to $SWAPGATE_CONFIG, else ./swapgate.yaml.\n";

}  // namespace

int main(int argc, char** argv) {
    swapgate::proxy::run_options opts;
    if (const char* env = std::getenv("SWAPGATE_CONFIG")) opts.config_path = env;
    else opts.config_path = "swapgate.yaml";
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&](const char* flag) -> std::string {
            if (i + 1 >= argc) {
                std::cerr << "swapgate: " << flag << " needs a value\n" << usage;
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--help" || a == "-h") {
            std::cout << usage;
            return 0;
        } else if (a == "--version") {
            std::cout << "swapgate 0.1.0\n";
            return 0;
        } else if (a == "check-config") {
            return swapgate::proxy::check_config(i + 1 < argc ? argv[i + 1] : opts.config_path);
        } else if (a == "--config" || a == "-c") {
            opts.config_path = value("--config");
        } else if (a == "--listen") {
            opts.listen = value("--listen");
        } else if (a == "--threads") {
            std::string v = value("--threads");
            char* end = nullptr;
            long n = std::strtol(v.c_str(), &end, 10);
            if (v.empty() || *end || n < 1 || n > 256) {
                std::cerr << "swapgate: --threads: expected a number from 1 to 256, got '" << v << "'\n";
                return 2;
            }
            opts.threads = static_cast<int>(n);
        } else {
            std::cerr << "swapgate: unknown argument '" << a << "'\n" << usage;
            return 2;
        }
    }
    return swapgate::proxy::run(opts);
}
