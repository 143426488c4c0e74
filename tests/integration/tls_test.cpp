// HTTPS upstreams: a CA made at test time, verification on, SNI, and refusal of
// a certificate from a CA swapgate was not told to trust.
#include "fixture.hpp"

#include <cstdlib>

namespace swapgate::test {
namespace {

// Makes a CA and a server certificate for the name localhost (only) signed by it.
struct test_pki {
    std::string dir = temp_dir();
    std::string ca, cert, key, other_ca;
    test_pki() {
        std::string d = dir;
        std::string script =
            "set -e; cd " + d + ";"
            "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=swapgate-test-ca "
            "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign >/dev/null 2>&1;"
            "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost >/dev/null 2>&1;"
            "printf 'subjectAltName=DNS:localhost\\nbasicConstraints=CA:FALSE\\n' > ext.cnf;"
            "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
            "-extfile ext.cnf >/dev/null 2>&1;"
            "openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 2 -subj /CN=other-ca "
            ">/dev/null 2>&1";
        if (std::system(("bash -c \"" + script + "\"").c_str()) != 0) throw std::runtime_error("openssl failed");
        ca = d + "/ca.pem";
        cert = d + "/server.pem";
        key = d + "/server.key";
        other_ca = d + "/other.pem";
    }
};

// swapgate-sim serving HTTPS with the test certificate, and swapgate in front of it
// reaching it as https://HOST:port/v1 and trusting `ca_file`.
struct tls_pair {
    std::unique_ptr<child> sim, proxy;
    tls_pair(const test_pki& pki, const std::string& host, const std::string& ca_file) {
        sim = start_sim({"--tls-cert", pki.cert, "--tls-key", pki.key});
        std::string url = "https://" + host + ":" + std::to_string(sim->port()) + "/v1";
        proxy = start_proxy(one_model_config(url, "    ca_file: " + ca_file + "\n"));
    }
};

TEST(Tls, HttpsUpstreamWithTheTestCaWorks) {
    test_pki pki;
    tls_pair up(pki, "localhost", pki.ca);
    http_client c(up.proxy->port());
    auto r = c.request("POST", "/v1/chat/completions", chat_body("m", false));
    EXPECT_EQ(r.status, 200) << r.body;
    c.send("POST", "/v1/chat/completions", chat_body("m", true));
    ASSERT_EQ(c.read_head().status, 200);
    auto events = c.read_sse_events();
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back(), "[DONE]");
    EXPECT_EQ(c.request("POST", "/v1/chat/completions", chat_body("m", false)).status, 200);
    // One TLS connection, kept alive and reused: no handshake per request.
    auto m = c.request("GET", "/metrics").body;
    EXPECT_NE(m.find(R"(swapgate_upstream_connections_total{backend="up",reused="false"} 1)"), std::string::npos) << m;
    EXPECT_NE(m.find(R"(swapgate_upstream_connections_total{backend="up",reused="true"} 2)"), std::string::npos) << m;
    EXPECT_EQ(m.find("swapgate_upstream_errors_total{"), std::string::npos) << m;
}

TEST(Tls, CertificateFromAnUntrustedCaIsRefused) {
    test_pki pki;
    tls_pair up(pki, "localhost", pki.other_ca);
    http_client c(up.proxy->port());
    auto r = c.request("POST", "/v1/chat/completions", chat_body("m", false));
    EXPECT_EQ(r.status, 502);
    auto e = json::parse(r.body)["error"];
    EXPECT_EQ(e["code"], "upstream_unreachable");
    EXPECT_NE(e["message"].get<std::string>().find("certificate verify failed"), std::string::npos) << e["message"];
}

TEST(Tls, HostNameMustMatchTheCertificate) {
    test_pki pki;
    // Same server, reached by its IP address, which the certificate does not name.
    tls_pair up(pki, "127.0.0.1", pki.ca);
    http_client c(up.proxy->port());
    auto r = c.request("POST", "/v1/chat/completions", chat_body("m", false));
    EXPECT_EQ(r.status, 502) << r.body;
    EXPECT_NE(r.body.find("certificate verify failed"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace swapgate::test
