#include "csi/secret_stripper.h"

#include "csi/csi.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"

namespace cloak::csi {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

bool IsSecretField(const FieldDescriptor& field) {
  return field.options().GetExtension(::csi::v1::csi_secret);
}

void StripSecretsInPlace(Message& message) {
  const Reflection* reflection = message.GetReflection();
  reflection->MutableUnknownFields(&message)->Clear();

  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    if (IsSecretField(*field)) {
      reflection->ClearField(&message, field);
      continue;
    }
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (field->is_repeated()) {
      const int count = reflection->FieldSize(message, field);
      for (int i = 0; i < count; ++i) {
        StripSecretsInPlace(*reflection->MutableRepeatedMessage(&message, field, i));
      }
    } else {
      StripSecretsInPlace(*reflection->MutableMessage(&message, field));
    }
  }
}

std::unique_ptr<Message> StripSecrets(const Message& message) {
  std::unique_ptr<Message> copy(message.New());
  copy->CopyFrom(message);
  StripSecretsInPlace(*copy);
  return copy;
}

std::string StrippedJson(const Message& message) {
  const std::unique_ptr<Message> stripped = StripSecrets(message);
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(*stripped, &json, options).ok()) {
    return "{}";
  }
  return json;
}

}  // namespace cloak::csi
