// swapgate: an OpenAI-compatible reverse proxy for local LLM servers.
#include "proxy/app.hpp"
#include "proxy/status_cli.hpp"

#include <cstdlib>
#include <iostream>
#include <string>

namespace {

const char* usage =
    "usage: swapgate [--config FILE] [--listen HOST:PORT] [--threads N]\n"
    "       swapgate check-config FILE\n"
    "       swapgate status [--url http://127.0.0.1:8000] [--admin-key KEY] [--json]\n"
    "       swapgate --version | --help\n"
    "\n"
    "The config file defaults to $SWAPGATE_CONFIG, else ./swapgate.yaml.\n"
    "status asks a running swapgate which models are resident ($SWAPGATE_URL, $SWAPGATE_ADMIN_KEY).\n";

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
        } else if (a == "status") {
            swapgate::proxy::status_options so;
            if (const char* u = std::getenv("SWAPGATE_URL")) so.url = u;
            if (const char* k = std::getenv("SWAPGATE_ADMIN_KEY")) so.admin_key = k;
            for (int j = i + 1; j < argc; ++j) {
                std::string f = argv[j];
                if (f == "--json") so.json = true;
                else if ((f == "--url" || f == "--admin-key") && j + 1 < argc) (f == "--url" ? so.url : so.admin_key) = argv[++j];
                else {
                    std::cerr << "swapgate status: unknown or incomplete argument '" << f << "'\n" << usage;
                    return 2;
                }
            }
            return swapgate::proxy::print_status(so);
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
