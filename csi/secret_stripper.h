#pragma once

// Removes secrets from a protobuf message before anything logs it.
//
// A field is secret when its descriptor carries the `csi_secret` option (CSI marks
// `secrets` maps and similar fields this way). The rule is read from the descriptor,
// not from a list, so a secret field added to a later wire definition is stripped
// without code changes. Unknown fields are dropped too: they may be secrets from a
// newer client whose wire definition we do not have.

#include <memory>
#include <string>

#include "google/protobuf/message.h"

namespace cloak::csi {

// True when `field` is marked as carrying secrets.
bool IsSecretField(const google::protobuf::FieldDescriptor& field);

// Clears every secret field and every unknown field of `message`, recursively
// (nested messages, repeated fields and map values).
void StripSecretsInPlace(google::protobuf::Message& message);

// A copy of `message` with secrets stripped; `message` is left untouched.
std::unique_ptr<google::protobuf::Message> StripSecrets(const google::protobuf::Message& message);

// The stripped message as compact JSON (proto field names), for log lines.
std::string StrippedJson(const google::protobuf::Message& message);

}  // namespace cloak::csi
