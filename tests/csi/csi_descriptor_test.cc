// Walks the compiled csi.proto descriptor and compares it, row by row, with the
// CSI v1.12.0 facts in csi/testdata/csi-v1.12.0.tsv — and the other way round, so that
// neither a wrong number nor an extra or missing element can slip in.

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "csi/csi.pb.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"

namespace cloak::csi {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;

struct Row {
  std::string kind, scope, name, number, label, type, oneof, options;
  std::string Key() const { return kind + " " + scope + " " + name; }
};

std::vector<Row> LoadTable() {
  const char* source = std::getenv("CLOAK_SOURCE_DIR");
  const std::string path = std::string(source ? source : ".") + "/csi/testdata/csi-v1.12.0.tsv";
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::vector<Row> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cells;
    std::stringstream stream(line);
    std::string cell;
    while (std::getline(stream, cell, '\t')) cells.push_back(cell);
    cells.resize(8);
    rows.push_back(
        {cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6], cells[7]});
  }
  return rows;
}

std::set<std::string> SplitOptions(const std::string& options) {
  std::set<std::string> out;
  std::stringstream stream(options);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (!item.empty()) out.insert(item);
  }
  return out;
}

std::string FieldTypeName(const FieldDescriptor& field) {
  if (field.message_type() != nullptr) return field.message_type()->full_name();
  if (field.enum_type() != nullptr) return field.enum_type()->full_name();
  return field.type_name();
}

std::set<std::string> FieldOptions(const FieldDescriptor& field) {
  std::set<std::string> out;
  if (field.options().GetExtension(::csi::v1::csi_secret)) out.insert("csi_secret");
  if (field.options().GetExtension(::csi::v1::alpha_field)) out.insert("alpha");
  if (field.has_optional_keyword()) out.insert("proto3_optional");
  return out;
}

std::set<std::string> MessageOptions(const Descriptor& message) {
  std::set<std::string> out;
  if (message.options().map_entry()) out.insert({"opt7=1", "map_entry"});
  if (message.options().GetExtension(::csi::v1::alpha_message)) out.insert("alpha");
  return out;
}

const FileDescriptor& CsiFile() { return *::csi::v1::ProbeRequest::descriptor()->file(); }
const DescriptorPool& Pool() { return *CsiFile().pool(); }

// Checks one table row against the descriptor; returns an empty string when it matches.
std::string CheckRow(const Row& row) {
  const DescriptorPool& pool = Pool();
  if (row.kind == "extension") {
    const FieldDescriptor* ext = pool.FindExtensionByName("csi.v1." + row.name);
    if (ext == nullptr) return "missing";
    if (ext->containing_type()->full_name() != row.scope.substr(1)) return "wrong extendee";
    if (std::to_string(ext->number()) != row.number) return "wrong number";
    if (ext->type_name() != row.type || ext->is_repeated()) return "wrong type/label";
    return "";
  }
  if (row.kind == "service") {
    const auto* service = pool.FindServiceByName(row.scope + "." + row.name);
    if (service == nullptr) return "missing";
    std::set<std::string> options;
    if (service->options().GetExtension(::csi::v1::alpha_service)) options.insert("alpha");
    return options == SplitOptions(row.options) ? "" : "wrong options";
  }
  if (row.kind == "rpc") {
    const auto* service = pool.FindServiceByName("csi.v1." + row.scope);
    const auto* method = service ? service->FindMethodByName(row.name) : nullptr;
    if (method == nullptr) return "missing";
    const std::string signature =
        method->input_type()->full_name() + " -> " + method->output_type()->full_name();
    if (signature != row.type) return "wrong signature " + signature;
    if (method->client_streaming()) return "unexpected client streaming";
    // The table has no streaming column; upstream streams only the SnapshotMetadata replies.
    if (method->server_streaming() != (row.scope == "SnapshotMetadata")) return "wrong streaming";
    std::set<std::string> options;
    if (method->options().GetExtension(::csi::v1::alpha_method)) options.insert("alpha");
    return options == SplitOptions(row.options) ? "" : "wrong options";
  }
  if (row.kind == "message") {
    const Descriptor* message = pool.FindMessageTypeByName(row.scope + "." + row.name);
    if (message == nullptr) return "missing";
    return MessageOptions(*message) == SplitOptions(row.options) ? "" : "wrong options";
  }
  if (row.kind == "field") {
    const Descriptor* message = pool.FindMessageTypeByName(row.scope);
    const FieldDescriptor* field = message ? message->FindFieldByName(row.name) : nullptr;
    if (field == nullptr) return "missing";
    if (std::to_string(field->number()) != row.number) {
      return "number " + std::to_string(field->number()) + " != " + row.number;
    }
    if ((field->is_repeated() ? "repeated" : "optional") != row.label) return "wrong label";
    if (FieldTypeName(*field) != row.type) return "type " + FieldTypeName(*field);
    const auto* oneof = field->real_containing_oneof();
    if ((oneof ? oneof->name() : "") != row.oneof) return "wrong oneof";
    return FieldOptions(*field) == SplitOptions(row.options) ? "" : "wrong options";
  }
  if (row.kind == "enum") {
    const EnumDescriptor* e = pool.FindEnumTypeByName(row.scope + "." + row.name);
    if (e == nullptr) return "missing";
    std::set<std::string> options;
    if (e->options().GetExtension(::csi::v1::alpha_enum)) options.insert("alpha");
    return options == SplitOptions(row.options) ? "" : "wrong options";
  }
  if (row.kind == "value") {
    const EnumDescriptor* e = pool.FindEnumTypeByName(row.scope);
    const auto* value = e ? e->FindValueByName(row.name) : nullptr;
    if (value == nullptr) return "missing";
    if (std::to_string(value->number()) != row.number) return "wrong number";
    std::set<std::string> options;
    if (value->options().GetExtension(::csi::v1::alpha_enum_value)) options.insert("alpha");
    return options == SplitOptions(row.options) ? "" : "wrong options";
  }
  return "unknown kind";
}

// Every element the compiled file defines, as table keys.
void CollectEnum(const EnumDescriptor& e, const std::string& scope, std::set<std::string>& keys) {
  keys.insert("enum " + scope + " " + e.name());
  for (int i = 0; i < e.value_count(); ++i) {
    keys.insert("value " + e.full_name() + " " + e.value(i)->name());
  }
}

void CollectMessage(const Descriptor& m, const std::string& scope, std::set<std::string>& keys) {
  keys.insert("message " + scope + " " + m.name());
  for (int i = 0; i < m.field_count(); ++i) {
    keys.insert("field " + m.full_name() + " " + m.field(i)->name());
  }
  for (int i = 0; i < m.nested_type_count(); ++i) {
    CollectMessage(*m.nested_type(i), m.full_name(), keys);
  }
  for (int i = 0; i < m.enum_type_count(); ++i) CollectEnum(*m.enum_type(i), m.full_name(), keys);
}

std::set<std::string> CompiledKeys() {
  const FileDescriptor& file = CsiFile();
  std::set<std::string> keys;
  for (int i = 0; i < file.extension_count(); ++i) {
    const FieldDescriptor* ext = file.extension(i);
    keys.insert("extension ." + ext->containing_type()->full_name() + " " + ext->name());
  }
  for (int i = 0; i < file.service_count(); ++i) {
    const auto* service = file.service(i);
    keys.insert("service csi.v1 " + service->name());
    for (int j = 0; j < service->method_count(); ++j) {
      keys.insert("rpc " + service->name() + " " + service->method(j)->name());
    }
  }
  for (int i = 0; i < file.message_type_count(); ++i) {
    CollectMessage(*file.message_type(i), "csi.v1", keys);
  }
  for (int i = 0; i < file.enum_type_count(); ++i) CollectEnum(*file.enum_type(i), "csi.v1", keys);
  return keys;
}

TEST(CsiDescriptorTest, PackageAndImportsMatchTheSpec) {
  const FileDescriptor& file = CsiFile();
  EXPECT_EQ(file.package(), "csi.v1");
  EXPECT_EQ(file.syntax(), FileDescriptor::SYNTAX_PROTO3);
  std::set<std::string> imports;
  for (int i = 0; i < file.dependency_count(); ++i) imports.insert(file.dependency(i)->name());
  EXPECT_EQ(imports, (std::set<std::string>{"google/protobuf/descriptor.proto",
                                            "google/protobuf/timestamp.proto",
                                            "google/protobuf/wrappers.proto"}));
}

TEST(CsiDescriptorTest, EveryTableRowMatchesTheCompiledDescriptor) {
  const std::vector<Row> rows = LoadTable();
  ASSERT_EQ(rows.size(), 509u) << "the table itself changed";
  for (const Row& row : rows) {
    EXPECT_EQ(CheckRow(row), "") << row.Key();
  }
}

TEST(CsiDescriptorTest, DescriptorHasNothingTheTableLacks) {
  std::set<std::string> table;
  for (const Row& row : LoadTable()) table.insert(row.Key());
  const std::set<std::string> compiled = CompiledKeys();
  for (const std::string& key : compiled) EXPECT_EQ(table.count(key), 1u) << "extra: " << key;
  EXPECT_EQ(compiled.size(), table.size());
}

}  // namespace
}  // namespace cloak::csi
