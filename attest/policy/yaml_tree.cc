#include "attest/policy/yaml_tree.h"

#include <new>
#include <set>
#include <sstream>
#include <utility>

#include "attest/policy/policy.h"
#include "fmt/format.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/exceptions.h"
#include "yaml-cpp/parser.h"

namespace cloak::attest::policy::internal {
namespace {

constexpr std::size_t kMaxKeyInPath = 64;

// Thrown from the event handler to stop yaml-cpp at the first refused event.
struct Refused {
  std::string message;
};

// Builds the tree from parser events, enforcing the bounds as it goes, so that a deep or
// huge document is refused before yaml-cpp recurses or allocates much.
class TreeBuilder final : public YAML::EventHandler {
 public:
  explicit TreeBuilder(YamlNode& root) : root_(root) {}

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark&, YAML::anchor_t anchor) override {
    NoAnchor(anchor);
    Add(YamlNode{});
  }
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {
    Refuse(CurrentPath(), "YAML aliases (*name) are not allowed in a policy");
  }
  void OnScalar(const YAML::Mark&, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    NoAnchor(anchor);
    NoTag(tag);
    Frame* top = Top();
    if (top != nullptr && top->node->kind == YamlNode::Kind::kMap && !top->have_key) {
      if (!top->keys.insert(value).second) {
        Refuse(JoinPath(top->path, value), "duplicate key");
      }
      top->key = value;
      top->have_key = true;
      return;
    }
    YamlNode node;
    node.kind = YamlNode::Kind::kScalar;
    node.scalar = value;
    node.plain = tag == "?";
    Add(std::move(node));
  }
  void OnSequenceStart(const YAML::Mark&, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Open(YamlNode::Kind::kList, tag, anchor);
  }
  void OnSequenceEnd() override { stack_.pop_back(); }
  void OnMapStart(const YAML::Mark&, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Open(YamlNode::Kind::kMap, tag, anchor);
  }
  void OnMapEnd() override { stack_.pop_back(); }

 private:
  struct Frame {
    YamlNode* node = nullptr;
    std::string path;
    std::set<std::string> keys;  // kMap: keys seen so far
    std::string key;             // kMap: the key whose value comes next
    bool have_key = false;
  };

  [[noreturn]] static void Refuse(std::string_view path, std::string_view message) {
    throw Refused{path.empty() ? std::string(message) : fmt::format("{}: {}", path, message)};
  }

  void NoAnchor(YAML::anchor_t anchor) const {
    if (anchor != YAML::NullAnchor) {
      Refuse(CurrentPath(), "YAML anchors (&name) are not allowed in a policy");
    }
  }
  void NoTag(const std::string& tag) const {
    if (tag != "?" && tag != "!") {
      Refuse(CurrentPath(), fmt::format("YAML tags are not allowed in a policy (found {})",
                                        tag.substr(0, kMaxKeyInPath)));
    }
  }

  Frame* Top() { return stack_.empty() ? nullptr : &stack_.back(); }

  // Where the next value goes.
  std::string CurrentPath() const {
    if (stack_.empty()) return "";
    const Frame& top = stack_.back();
    if (top.node->kind == YamlNode::Kind::kMap) {
      return top.have_key ? JoinPath(top.path, top.key) : top.path;
    }
    return IndexPath(top.path, top.node->items.size());
  }

  // Places `node` in the current container (or as the root); returns it and its path.
  std::pair<YamlNode*, std::string> Add(YamlNode node) {
    if (++values_ > kMaxValues) {
      Refuse("", fmt::format("the document holds more than {} values", kMaxValues));
    }
    std::string path = CurrentPath();
    Frame* top = Top();
    if (top == nullptr) {
      if (have_root_) Refuse("", "more than one YAML document");
      have_root_ = true;
      root_ = std::move(node);
      return {&root_, std::move(path)};
    }
    if (top->node->kind == YamlNode::Kind::kMap) {
      if (!top->have_key) Refuse(top->path, "keys must be plain strings");
      if (top->node->entries.size() >= kMaxListEntries) {
        Refuse(top->path, fmt::format("more than {} entries", kMaxListEntries));
      }
      top->have_key = false;
      top->node->entries.push_back(YamlEntry{.key = std::move(top->key), .value = std::move(node)});
      return {&top->node->entries.back().value, std::move(path)};
    }
    if (top->node->items.size() >= kMaxListEntries) {
      Refuse(top->path, fmt::format("more than {} entries", kMaxListEntries));
    }
    top->node->items.push_back(std::move(node));
    return {&top->node->items.back(), std::move(path)};
  }

  void Open(YamlNode::Kind kind, const std::string& tag, YAML::anchor_t anchor) {
    NoAnchor(anchor);
    NoTag(tag);
    if (stack_.size() >= kMaxNesting) {
      Refuse(CurrentPath(), fmt::format("nested more than {} levels deep", kMaxNesting));
    }
    YamlNode node;
    node.kind = kind;
    auto [placed, path] = Add(std::move(node));
    Frame frame;
    frame.node = placed;
    frame.path = std::move(path);
    stack_.push_back(std::move(frame));
  }

  YamlNode& root_;
  bool have_root_ = false;
  std::size_t values_ = 0;
  std::vector<Frame> stack_;
};

}  // namespace

std::string JoinPath(std::string_view parent, std::string_view key) {
  std::string clean;
  for (char c : key.substr(0, kMaxKeyInPath)) {
    clean.push_back(c > ' ' && c < 0x7f ? c : '?');
  }
  if (key.size() > kMaxKeyInPath) clean += "...";
  if (parent.empty()) return clean;
  return fmt::format("{}.{}", parent, clean);
}

std::string IndexPath(std::string_view parent, std::size_t index) {
  return fmt::format("{}[{}]", parent, index);
}

absl::StatusOr<YamlNode> LoadYaml(std::string_view text) {
  if (text.size() > kMaxDocumentBytes) {
    return absl::InvalidArgumentError(fmt::format(
        "the document is {} bytes; a policy may have at most {}", text.size(), kMaxDocumentBytes));
  }
  YamlNode root;
  try {
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    TreeBuilder builder(root);
    if (!parser.HandleNextDocument(builder)) {
      return absl::InvalidArgumentError("the document is empty");
    }
    if (parser.HandleNextDocument(builder)) {
      return absl::InvalidArgumentError("more than one YAML document (---); a policy is one");
    }
  } catch (const Refused& refused) {
    return absl::InvalidArgumentError(refused.message);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(fmt::format("not valid YAML: line {}, column {}: {}",
                                                  e.mark.line + 1, e.mark.column + 1, e.msg));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory while reading the document");
  } catch (...) {
    return absl::InvalidArgumentError("not valid YAML");
  }
  return root;
}

}  // namespace cloak::attest::policy::internal
