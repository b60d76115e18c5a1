#include "common/config/yaml_to_proto.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/duration.pb.h>
#include <google/protobuf/message.h>
#include <google/protobuf/reflection.h>

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "yaml-cpp/yaml.h"

namespace aimarket::config {
namespace {

namespace pb = google::protobuf;

std::string Where(const std::string& path, const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  if (mark.line < 0) return path;
  return absl::StrCat(path, " (line ", mark.line + 1, ")");
}

absl::Status Bad(const std::string& path, const YAML::Node& node, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(Where(path.empty() ? "config" : path, node), ": ", what));
}

const char* KindName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    default:
      return "nothing";
  }
}

// "ProviderType" -> "PROVIDER_TYPE_".
std::string EnumPrefix(const pb::EnumDescriptor& e) {
  std::string out;
  const std::string& name = e.name();
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (i > 0 && absl::ascii_isupper(c)) out.push_back('_');
    out.push_back(absl::ascii_toupper(c));
  }
  out.push_back('_');
  return out;
}

// "PROVIDER_TYPE_OPENAI_COMPATIBLE" -> "openai-compatible".
std::string FriendlyEnumName(const pb::EnumValueDescriptor& v, const std::string& prefix) {
  std::string name = v.name();
  if (absl::StartsWith(name, prefix)) name = name.substr(prefix.size());
  return absl::StrReplaceAll(absl::AsciiStrToLower(name), {{"_", "-"}});
}

class Mapper {
 public:
  absl::Status Message(const YAML::Node& node, pb::Message& msg, const std::string& path);

 private:
  absl::Status Field(const YAML::Node& node, pb::Message& msg, const pb::FieldDescriptor& field,
                     const std::string& path);
  absl::Status Scalar(const YAML::Node& node, pb::Message& msg, const pb::FieldDescriptor& field,
                      const std::string& path, bool add);
  absl::Status MapEntries(const YAML::Node& node, pb::Message& msg,
                          const pb::FieldDescriptor& field, const std::string& path);
};

absl::Status Mapper::Message(const YAML::Node& node, pb::Message& msg, const std::string& path) {
  if (node.IsNull()) return absl::OkStatus();
  const pb::Descriptor& desc = *msg.GetDescriptor();
  if (desc.full_name() == "google.protobuf.Duration") {
    if (!node.IsScalar()) return Bad(path, node, "expected a duration such as \"5s\" or \"250ms\"");
    absl::Duration d;
    if (!absl::ParseDuration(node.Scalar(), &d) || d < absl::ZeroDuration()) {
      return Bad(path, node,
                 absl::StrCat("invalid duration \"", node.Scalar(),
                              "\"; expected a value such as \"5s\" or \"250ms\""));
    }
    auto& out = static_cast<pb::Duration&>(msg);
    const int64_t nanos = absl::ToInt64Nanoseconds(d);
    out.set_seconds(nanos / 1000000000);
    out.set_nanos(static_cast<int32_t>(nanos % 1000000000));
    return absl::OkStatus();
  }
  if (!node.IsMap())
    return Bad(path, node, absl::StrCat("expected a mapping, found ", KindName(node)));
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    const std::string child = path.empty() ? key : absl::StrCat(path, ".", key);
    const pb::FieldDescriptor* field = desc.FindFieldByName(key);
    if (field == nullptr) {
      std::vector<std::string> known;
      for (int i = 0; i < desc.field_count(); ++i) known.push_back(desc.field(i)->name());
      return Bad(child, kv.first,
                 absl::StrCat("unknown key; expected one of: ", absl::StrJoin(known, ", ")));
    }
    if (absl::Status s = Field(kv.second, msg, *field, child); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Mapper::Field(const YAML::Node& node, pb::Message& msg,
                           const pb::FieldDescriptor& field, const std::string& path) {
  if (node.IsNull()) return absl::OkStatus();
  const pb::Reflection& refl = *msg.GetReflection();
  if (field.is_map()) return MapEntries(node, msg, field, path);
  if (field.is_repeated()) {
    if (!node.IsSequence())
      return Bad(path, node, absl::StrCat("expected a list, found ", KindName(node)));
    for (size_t i = 0; i < node.size(); ++i) {
      const std::string item = absl::StrCat(path, "[", i, "]");
      if (field.cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
        if (absl::Status s = Message(node[i], *refl.AddMessage(&msg, &field), item); !s.ok())
          return s;
      } else if (absl::Status s = Scalar(node[i], msg, field, item, /*add=*/true); !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }
  if (field.cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
    return Message(node, *refl.MutableMessage(&msg, &field), path);
  }
  return Scalar(node, msg, field, path, /*add=*/false);
}

absl::Status Mapper::MapEntries(const YAML::Node& node, pb::Message& msg,
                                const pb::FieldDescriptor& field, const std::string& path) {
  if (!node.IsMap())
    return Bad(path, node, absl::StrCat("expected a mapping, found ", KindName(node)));
  const pb::Reflection& refl = *msg.GetReflection();
  for (const auto& kv : node) {
    pb::Message* entry = refl.AddMessage(&msg, &field);
    const pb::FieldDescriptor& key_field = *entry->GetDescriptor()->map_key();
    const pb::FieldDescriptor& value_field = *entry->GetDescriptor()->map_value();
    const std::string key = kv.first.as<std::string>();
    const std::string child = absl::StrCat(path, ".", key);
    if (absl::Status s = Scalar(kv.first, *entry, key_field, child, false); !s.ok()) return s;
    if (value_field.cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      if (absl::Status s = Message(
              kv.second, *entry->GetReflection()->MutableMessage(entry, &value_field), child);
          !s.ok()) {
        return s;
      }
    } else if (absl::Status s = Scalar(kv.second, *entry, value_field, child, false); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status Mapper::Scalar(const YAML::Node& node, pb::Message& msg,
                            const pb::FieldDescriptor& field, const std::string& path, bool add) {
  if (!node.IsScalar())
    return Bad(path, node, absl::StrCat("expected a single value, found ", KindName(node)));
  const pb::Reflection& refl = *msg.GetReflection();
  const std::string& text = node.Scalar();
  auto type_error = [&](absl::string_view expected) {
    return Bad(path, node, absl::StrCat("invalid value \"", text, "\"; expected ", expected));
  };
  switch (field.cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_STRING:
      add ? refl.AddString(&msg, &field, text) : refl.SetString(&msg, &field, text);
      return absl::OkStatus();
    case pb::FieldDescriptor::CPPTYPE_INT32: {
      int32_t v;
      if (!absl::SimpleAtoi(text, &v)) return type_error("an integer");
      add ? refl.AddInt32(&msg, &field, v) : refl.SetInt32(&msg, &field, v);
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_INT64: {
      int64_t v;
      if (!absl::SimpleAtoi(text, &v)) return type_error("an integer");
      add ? refl.AddInt64(&msg, &field, v) : refl.SetInt64(&msg, &field, v);
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_UINT32: {
      uint32_t v;
      if (!absl::SimpleAtoi(text, &v)) return type_error("a non-negative integer");
      add ? refl.AddUInt32(&msg, &field, v) : refl.SetUInt32(&msg, &field, v);
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t v;
      if (!absl::SimpleAtoi(text, &v)) return type_error("a non-negative integer");
      add ? refl.AddUInt64(&msg, &field, v) : refl.SetUInt64(&msg, &field, v);
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
    case pb::FieldDescriptor::CPPTYPE_FLOAT: {
      double v;
      if (!absl::SimpleAtod(text, &v)) return type_error("a number");
      if (field.cpp_type() == pb::FieldDescriptor::CPPTYPE_DOUBLE) {
        add ? refl.AddDouble(&msg, &field, v) : refl.SetDouble(&msg, &field, v);
      } else {
        add ? refl.AddFloat(&msg, &field, static_cast<float>(v))
            : refl.SetFloat(&msg, &field, static_cast<float>(v));
      }
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_BOOL: {
      bool v;
      if (text == "true" || text == "True")
        v = true;
      else if (text == "false" || text == "False")
        v = false;
      else
        return type_error("true or false");
      add ? refl.AddBool(&msg, &field, v) : refl.SetBool(&msg, &field, v);
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_ENUM: {
      const pb::EnumDescriptor& e = *field.enum_type();
      const std::string prefix = EnumPrefix(e);
      const std::string wanted =
          absl::StrCat(prefix, absl::StrReplaceAll(absl::AsciiStrToUpper(text), {{"-", "_"}}));
      const pb::EnumValueDescriptor* v = e.FindValueByName(wanted);
      if (v == nullptr || v->number() == 0) {
        std::vector<std::string> names;
        for (int i = 1; i < e.value_count(); ++i)
          names.push_back(FriendlyEnumName(*e.value(i), prefix));
        return type_error(absl::StrCat("one of: ", absl::StrJoin(names, ", ")));
      }
      add ? refl.AddEnum(&msg, &field, v) : refl.SetEnum(&msg, &field, v);
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return Bad(path, node, "unsupported field type");
}

}  // namespace

absl::Status MergeYamlIntoProto(absl::string_view yaml, google::protobuf::Message& message) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed YAML at line ", e.mark.line + 1, ": ", e.msg));
  }
  try {
    return Mapper().Message(root, message, "");
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed YAML at line ", e.mark.line + 1, ": ", e.msg));
  }
}

}  // namespace aimarket::config
