#pragma once

// Secret stripping for the key service's messages: a field is secret when its descriptor
// carries the `cloak_secret` option (kms/proto/kms.proto). Same rule and shape as
// csi/secret_stripper.h, which reads `csi_secret`; one interceptor can use both.

#include <string>

#include "google/protobuf/message.h"

namespace cloak::kms {

// True when `field` is marked (cloak.kms.v1.cloak_secret) = true.
bool IsCloakSecretField(const google::protobuf::FieldDescriptor& field);

// Clears every cloak_secret field and every unknown field, recursively.
void StripCloakSecretsInPlace(google::protobuf::Message& message);

// A stripped copy as compact JSON (proto field names), for log lines.
std::string CloakStrippedJson(const google::protobuf::Message& message);

}  // namespace cloak::kms
