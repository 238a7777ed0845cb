#include "kms/service/secret_fields.h"

#include <memory>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "kms/proto/kms.pb.h"

namespace cloak::kms {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

bool IsCloakSecretField(const FieldDescriptor& field) {
  return field.options().GetExtension(v1::cloak_secret);
}

void StripCloakSecretsInPlace(Message& message) {
  const Reflection* reflection = message.GetReflection();
  reflection->MutableUnknownFields(&message)->Clear();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    if (IsCloakSecretField(*field)) {
      reflection->ClearField(&message, field);
      continue;
    }
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (field->is_repeated()) {
      const int count = reflection->FieldSize(message, field);
      for (int i = 0; i < count; ++i) {
        StripCloakSecretsInPlace(*reflection->MutableRepeatedMessage(&message, field, i));
      }
    } else {
      StripCloakSecretsInPlace(*reflection->MutableMessage(&message, field));
    }
  }
}

std::string CloakStrippedJson(const Message& message) {
  std::unique_ptr<Message> copy(message.New());
  copy->CopyFrom(message);
  StripCloakSecretsInPlace(*copy);
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(*copy, &json, options).ok()) return "{}";
  return json;
}

}  // namespace cloak::kms
