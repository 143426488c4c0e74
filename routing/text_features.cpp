#include "routing/text_features.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace swapgate::routing {
namespace {

using json = nlohmann::json;

enum : int { latin, greek, cyrillic, armenian, hebrew, arabic, devanagari, thai, hangul, kana, han };
static_assert(script_count == 11);

struct range {
    char32_t lo, hi;
    int script;
};

// Letter ranges, sorted by start. Digits, punctuation and combining marks are
// left out where they have their own blocks, so they do not vote.
constexpr range letter_ranges[] = {
    {0x41, 0x5A, latin},         {0x61, 0x7A, latin},         {0xAA, 0xAA, latin},         {0xBA, 0xBA, latin},
    {0xC0, 0xD6, latin},         {0xD8, 0xF6, latin},         {0xF8, 0x24F, latin},        {0x370, 0x373, greek},
    {0x376, 0x377, greek},       {0x37B, 0x37D, greek},       {0x386, 0x386, greek},       {0x388, 0x3FF, greek},
    {0x400, 0x481, cyrillic},    {0x48A, 0x52F, cyrillic},    {0x531, 0x556, armenian},    {0x561, 0x587, armenian},
    {0x5D0, 0x5EA, hebrew},      {0x5EF, 0x5F2, hebrew},      {0x620, 0x64A, arabic},      {0x66E, 0x6D3, arabic},
    {0x6D5, 0x6D5, arabic},      {0x6FA, 0x6FF, arabic},      {0x750, 0x77F, arabic},      {0x8A0, 0x8FF, arabic},
    {0x904, 0x939, devanagari},  {0x93D, 0x93D, devanagari},  {0x950, 0x950, devanagari},  {0x958, 0x961, devanagari},
    {0x971, 0x97F, devanagari},  {0xE01, 0xE30, thai},        {0xE32, 0xE33, thai},        {0xE40, 0xE46, thai},
    {0x1100, 0x11FF, hangul},    {0x1C80, 0x1C88, cyrillic},  {0x1E00, 0x1EFF, latin},     {0x1F00, 0x1FFF, greek},
    {0x2DE0, 0x2DFF, cyrillic},  {0x3005, 0x3007, han},       {0x3041, 0x3096, kana},      {0x309D, 0x309F, kana},
    {0x30A1, 0x30FA, kana},      {0x30FC, 0x30FF, kana},      {0x3131, 0x318E, hangul},    {0x31F0, 0x31FF, kana},
    {0x3400, 0x4DBF, han},       {0x4E00, 0x9FFF, han},       {0xA640, 0xA69F, cyrillic},  {0xAC00, 0xD7A3, hangul},
    {0xF900, 0xFAFF, han},       {0xFB1D, 0xFB4F, hebrew},    {0xFB50, 0xFDFF, arabic},    {0xFE70, 0xFEFC, arabic},
    {0xFF21, 0xFF3A, latin},     {0xFF41, 0xFF5A, latin},     {0xFF66, 0xFF9F, kana},      {0xFFA0, 0xFFDC, hangul},
    {0x20000, 0x3134F, han},
};

bool is_cjk(int s) { return s == han || s == kana || s == hangul; }

bool ascii_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

long long code_points(std::string_view s) {
    long long n = 0;
    for (std::size_t at = 0; at < s.size();) next_code_point(s, at), ++n;
    return n;
}

long long json_tokens(const json& j) {
    auto bytes = static_cast<long long>(j.dump(-1, ' ', false, json::error_handler_t::replace).size());
    return (bytes + 3) / 4;
}

bool is_image_part(const json& part) {
    auto t = part.find("type");
    return t != part.end() && t->is_string() &&
           (*t == "image_url" || *t == "input_image" || *t == "image");
}

// The text of a message's content: a string, or the `text` of its text parts.
std::string message_text(const json& m) {
    auto c = m.find("content");
    if (c == m.end()) return {};
    if (c->is_string()) return c->get<std::string>();
    std::string out;
    if (c->is_array())
        for (const auto& part : *c) {
            if (!part.is_object()) continue;
            auto t = part.find("text");
            if (t != part.end() && t->is_string()) out += (out.empty() ? "" : "\n") + t->get<std::string>();
        }
    return out;
}

std::string role_of(const json& m) {
    auto r = m.find("role");
    return r != m.end() && r->is_string() ? r->get<std::string>() : std::string();
}

void count_letters(std::string_view text, std::array<long long, script_count>& letters) {
    for (std::size_t at = 0; at < text.size();)
        if (int s = script_of(next_code_point(text, at)); s >= 0) ++letters[static_cast<std::size_t>(s)];
}

int count_cues(const std::string& text, const std::vector<std::string>& cues) {
    std::string low = ascii_lower(text);
    int found = 0;
    for (const auto& cue : cues) {
        std::string c = ascii_lower(cue);
        if (c.empty()) continue;
        for (auto at = low.find(c); at != std::string::npos; at = low.find(c, at + 1)) {
            bool start = at == 0 || !ascii_alnum(low[at - 1]);
            bool end = at + c.size() >= low.size() || !ascii_alnum(low[at + c.size()]);
            if (start && end) {
                ++found;
                break;
            }
        }
    }
    return found;
}

}  // namespace

int script_of(char32_t cp) {
    auto it = std::upper_bound(std::begin(letter_ranges), std::end(letter_ranges), cp,
                               [](char32_t v, const range& r) { return v < r.lo; });
    if (it == std::begin(letter_ranges)) return -1;
    --it;
    return cp <= it->hi ? it->script : -1;
}

char32_t next_code_point(std::string_view s, std::size_t& at) {
    auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    unsigned char c = b(at);
    int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 1) return ++at, c;
    if (len == 0 || at + len > s.size()) return ++at, U'\uFFFD';
    char32_t cp = c & (0x7F >> len);
    for (int i = 1; i < len; ++i) {
        if ((b(at + i) & 0xC0) != 0x80) return ++at, U'\uFFFD';
        cp = (cp << 6) | (b(at + i) & 0x3F);
    }
    static constexpr char32_t min_of_len[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_of_len[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return ++at, U'\uFFFD';
    at += len;
    return cp;
}

double text_features::share(std::string_view script) const {
    if (letter_total == 0) return 0;
    for (std::size_t i = 0; i < script_count; ++i)
        if (script == config::script_names[i]) return static_cast<double>(letters[i]) / letter_total;
    return 0;
}

const std::vector<std::string>& default_reasoning_cues() {
    static const std::vector<std::string> cues = {
        "prove",   "proof",    "step by step", "why",       "derive",   "explain",       "analyze",
        "analyse", "compare",  "justify",      "evaluate",  "reason",   "reasoning",     "trade-off",
        "tradeoff", "optimize", "optimise",    "algorithm", "theorem",  "calculate",     "design",
        "debug",   "refactor", "pros and cons", "in depth"};
    return cues;
}

double complexity_score(long long user_chars, int code_blocks, int reasoning_cues, int turns) {
    double length = std::min(1.0, static_cast<double>(user_chars) / 3000.0);
    double code = std::min(1.0, code_blocks / 2.0);
    double reasoning = std::min(1.0, reasoning_cues / 3.0);
    double many = std::clamp((turns - 1) / 9.0, 0.0, 1.0);
    return 0.3 * length + 0.2 * code + 0.4 * reasoning + 0.1 * many;
}

long long estimate_text_tokens(std::string_view text) {
    long long cjk = 0, other_bytes = 0;
    for (std::size_t at = 0; at < text.size();) {
        std::size_t from = at;
        if (is_cjk(script_of(next_code_point(text, at)))) ++cjk;
        else other_bytes += static_cast<long long>(at - from);
    }
    return cjk + (other_bytes + 3) / 4;
}

long long estimate_message_tokens(const json& m) {
    long long t = 4;
    if (!m.is_object()) return t;
    if (auto c = m.find("content"); c != m.end()) {
        if (c->is_string()) t += estimate_text_tokens(c->get_ref<const std::string&>());
        else if (c->is_array())
            for (const auto& part : *c) {
                auto text = part.is_object() ? part.find("text") : part.end();
                if (part.is_object() && is_image_part(part)) t += image_tokens;
                else if (part.is_object() && text != part.end() && text->is_string())
                    t += estimate_text_tokens(text->get_ref<const std::string&>());
                else t += json_tokens(part);
            }
    }
    if (auto n = m.find("name"); n != m.end() && n->is_string()) t += estimate_text_tokens(n->get_ref<const std::string&>());
    if (auto tc = m.find("tool_calls"); tc != m.end() && !tc->is_null()) t += json_tokens(*tc);
    if (auto fc = m.find("function_call"); fc != m.end() && !fc->is_null()) t += json_tokens(*fc);
    return t;
}

long long estimate_prompt_tokens(const json& body) {
    long long t = 3;
    if (!body.is_object()) return t;
    if (auto ms = body.find("messages"); ms != body.end() && ms->is_array())
        for (const auto& m : *ms) t += estimate_message_tokens(m);
    if (auto p = body.find("prompt"); p != body.end()) {
        if (p->is_string()) t += estimate_text_tokens(p->get_ref<const std::string&>());
        else if (p->is_array())
            for (const auto& s : *p) t += s.is_string() ? estimate_text_tokens(s.get_ref<const std::string&>()) : json_tokens(s);
    }
    for (const char* key : {"tools", "functions"})
        if (auto tl = body.find(key); tl != body.end() && tl->is_array() && !tl->empty()) t += json_tokens(*tl);
    return t;
}

text_features extract_features(const json& body, const std::vector<std::string>& cues) {
    text_features f;
    if (!body.is_object()) return f;
    std::string user_text, system_text;
    auto add_user = [&](const std::string& text) {
        ++f.turns;
        user_text += (user_text.empty() ? "" : "\n") + text;
    };
    if (auto ms = body.find("messages"); ms != body.end() && ms->is_array()) {
        for (const auto& m : *ms) {
            if (!m.is_object()) continue;
            ++f.messages;
            std::string role = role_of(m), text = message_text(m);
            f.total_chars += code_points(text);
            if (role == "user") add_user(text);
            else if (role == "system" || role == "developer") system_text += (system_text.empty() ? "" : "\n") + text;
            if (auto c = m.find("content"); c != m.end() && c->is_array())
                for (const auto& part : *c) f.has_images |= part.is_object() && is_image_part(part);
        }
    } else if (auto p = body.find("prompt"); p != body.end()) {
        std::string text;
        if (p->is_string()) text = p->get<std::string>();
        else if (p->is_array())
            for (const auto& s : *p)
                if (s.is_string()) text += (text.empty() ? "" : "\n") + s.get<std::string>();
        f.messages = 1;
        f.total_chars = code_points(text);
        add_user(text);
    }
    for (const char* key : {"tools", "functions"})
        if (auto t = body.find(key); t != body.end() && t->is_array() && !t->empty()) f.has_tools = true;

    count_letters(user_text, f.letters);
    bool any = std::any_of(f.letters.begin(), f.letters.end(), [](long long n) { return n > 0; });
    if (!any) count_letters(system_text, f.letters);
    long long cjk_han = f.letters[han], cjk_kana = f.letters[kana];
    if (cjk_kana > 0 && static_cast<double>(cjk_kana) >= japanese_kana_share * static_cast<double>(cjk_han + cjk_kana)) {
        f.letters[kana] += cjk_han;
        f.letters[han] = 0;
    }
    for (auto n : f.letters) f.letter_total += n;
    for (std::size_t i = 0; i < script_count && f.letter_total > 0; ++i)
        if (static_cast<double>(f.letters[i]) >= dominant_share * static_cast<double>(f.letter_total)) {
            f.dominant = config::script_names[i];
            break;
        }

    f.user_chars = code_points(user_text);
    int fences = 0;
    for (auto at = user_text.find("```"); at != std::string::npos; at = user_text.find("```", at + 3)) ++fences;
    f.code_blocks = (fences + 1) / 2;
    f.reasoning_cues = count_cues(user_text, cues.empty() ? default_reasoning_cues() : cues);
    f.complexity = complexity_score(f.user_chars, f.code_blocks, f.reasoning_cues, f.turns);
    f.prompt_tokens = estimate_prompt_tokens(body);
    return f;
}

}  // namespace swapgate::routing
