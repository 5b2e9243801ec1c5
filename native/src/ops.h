// The resolved operator table's entries (Instance::ops): an operator's handle and its arguments as the
// schema gives them. Declared here because the Instance that owns them is destroyed in handles.cpp.
#pragma once

#include <ATen/core/dispatch/Dispatcher.h>

#include "common.h"

namespace lt {

enum class Kind : uint8_t {
  Tensor,
  TensorList,
  OptTensorList,
  Int,
  IntList,
  Float,
  FloatList,
  Bool,
  BoolList,
  Str,
  Scalar,
  WrappedScalar,
  Device,
  Generator,
  Unsupported
};

struct ArgSpec {
  std::string name;
  Kind kind;
  bool optional;
  int fixedLength;
  bool hasDefault;
  c10::IValue defaultValue;
};

struct OpInfo {
  c10::OperatorHandle handle;
  std::vector<ArgSpec> args;
  size_t returns;
  std::vector<std::string> returnTypes;
  std::string label;
  explicit OpInfo(c10::OperatorHandle h) : handle(std::move(h)) {}
};

}  // namespace lt
