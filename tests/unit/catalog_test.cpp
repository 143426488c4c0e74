#include "routing/catalog.hpp"

#include <gtest/gtest.h>

namespace swapgate::routing {
namespace {

std::shared_ptr<const config::config> sample() {
    auto r = config::load_string(R"(
backends:
  local: {url: http://127.0.0.1:8080/v1}
  hosted: {url: https://api.example.com/v1}
models:
  - {name: tinyllama, aliases: [fast, tl], backend: local, upstream_model: tinyllama-1.1b, tier: fast}
  - {name: gpt-4o-mini, backend: hosted, tier: complex}
)",
                                 [](const std::string&) { return std::nullopt; });
    return std::make_shared<const config::config>(std::move(*r.cfg));
}

TEST(Catalog, ResolvesNamesAndAliasesToTheSameModel) {
    catalog c(sample());
    auto a = c.resolve("tinyllama"), b = c.resolve("fast"), d = c.resolve("tl");
    ASSERT_TRUE(a && b && d);
    EXPECT_EQ(a->model, b->model);
    EXPECT_EQ(a->model, d->model);
    EXPECT_EQ(a->backend->name, "local");
    EXPECT_EQ(a->model->upstream_model, "tinyllama-1.1b");
    auto g = c.resolve("gpt-4o-mini");
    ASSERT_TRUE(g);
    EXPECT_EQ(g->backend->url, "https://api.example.com/v1");
}

TEST(Catalog, UnknownAndCaseSensitive) {
    catalog c(sample());
    EXPECT_FALSE(c.resolve("nope"));
    EXPECT_FALSE(c.resolve("FAST"));
    EXPECT_FALSE(c.resolve(""));
}

TEST(Catalog, ListingHasNamesThenAliasesInConfigOrder) {
    catalog c(sample());
    const auto& l = c.listing();
    ASSERT_EQ(l.size(), 4u);
    EXPECT_EQ(l[0].id, "tinyllama");
    EXPECT_EQ(l[0].alias_of, "");
    EXPECT_EQ(l[1].id, "fast");
    EXPECT_EQ(l[1].alias_of, "tinyllama");
    EXPECT_EQ(l[1].tier, "fast");
    EXPECT_EQ(l[3].id, "gpt-4o-mini");
    EXPECT_EQ(l[3].owned_by, "hosted");
}

}  // namespace
}  // namespace swapgate::routing
