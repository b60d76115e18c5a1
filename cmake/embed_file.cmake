# cmake -DIN=<file> -DOUT=<file.cc> -DHEADER=<include> -DNAMESPACE=<ns> -DFUNCTION=<name> -P embed_file.cmake
# Writes a C++ file defining `std::string_view NAMESPACE::FUNCTION()` returning IN's bytes.
file(READ ${IN} text)
file(WRITE ${OUT}.tmp "// Generated from ${IN} by cmake/embed_file.cmake. Do not edit.
#include \"${HEADER}\"

namespace ${NAMESPACE} {

std::string_view ${FUNCTION}() {
  return R\"aimfile(${text})aimfile\";
}

}  // namespace ${NAMESPACE}
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
