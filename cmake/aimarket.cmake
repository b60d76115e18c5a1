# Build helpers: one function each to declare a library, a test and a proto library.
# Our own targets compile with -Wall -Wextra; generated code never does. Warnings are errors only
# with -DAIMARKET_WERROR=ON, which tools/dev (and so CI) turns on: a user or packager on a compiler
# the project has not seen is not stopped by a warning it brings.
include(GoogleTest)

option(AIMARKET_WERROR "Treat warnings in aimarket's own code as errors" OFF)
set(AIMARKET_COPTS -Wall -Wextra)
if(AIMARKET_WERROR AND NOT AIMARKET_FUZZ)
  # The fuzz build uses another compiler (clang): its warnings are shown, not fatal.
  list(APPEND AIMARKET_COPTS -Werror)
endif()
# No warning is silenced tree-wide. GCC 12's known libstdc++ false positives at -O2 (-Warray-bounds
# on a std::string temporary moved into a vector: GCC bugs 105329, 105651, 107138) are avoided at
# the one place they appeared (upstream_endpoint.cc constructs its header strings in place).

# aimarket_cc_library(NAME foo SRCS a.cc b.cc DEPS aimarket::status absl::status [PCH])
# Declares aimarket_foo with the alias aimarket::foo. Without SRCS it is an INTERFACE library.
# PCH reuses the precompiled gRPC/protobuf header set (see aimarket_pch below).
function(aimarket_cc_library)
  cmake_parse_arguments(A "PCH" "NAME" "SRCS;DEPS" ${ARGN})
  set(target aimarket_${A_NAME})
  if(A_SRCS)
    add_library(${target} STATIC ${A_SRCS})
    target_link_libraries(${target} PUBLIC ${A_DEPS})
    target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
    target_compile_options(${target} PRIVATE ${AIMARKET_COPTS})
    if(A_PCH)
      target_precompile_headers(${target} REUSE_FROM aimarket_pch)
    endif()
  else()
    add_library(${target} INTERFACE)
    target_link_libraries(${target} INTERFACE ${A_DEPS})
    target_include_directories(${target} INTERFACE ${PROJECT_SOURCE_DIR})
  endif()
  add_library(aimarket::${A_NAME} ALIAS ${target})
endfunction()

# aimarket_cc_test(NAME foo_test SRCS foo_test.cc DEPS aimarket::foo LABELS unit [PCH])
# One gtest binary; every TEST in it becomes a ctest test (discovered when ctest runs, so the
# build never has to execute a sanitized binary).
function(aimarket_cc_test)
  cmake_parse_arguments(A "PCH" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  if(AIMARKET_FUZZ)
    return()  # A fuzz build runs the fuzz targets only.
  endif()
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  add_executable(${A_NAME} ${A_SRCS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} GTest::gmock GTest::gtest_main)
  target_include_directories(${A_NAME} PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_options(${A_NAME} PRIVATE ${AIMARKET_COPTS})
  target_compile_definitions(${A_NAME} PRIVATE
    AIMARKET_SOURCE_DIR="${PROJECT_SOURCE_DIR}" AIMARKET_BIN_DIR="${AIMARKET_BIN_DIR}")
  if(A_PCH)
    target_precompile_headers(${A_NAME} REUSE_FROM aimarket_pch)
  endif()
  gtest_discover_tests(${A_NAME}
    DISCOVERY_MODE PRE_TEST
    DISCOVERY_TIMEOUT 120
    PROPERTIES LABELS "${A_LABELS}" TIMEOUT ${A_TIMEOUT})
endfunction()

# aimarket_proto_library(NAME protos PROTOS a/b.proto ... [GRPC a/b_service.proto ...])
# Generates C++ (and gRPC stubs for the GRPC files) under the build tree, into one library.
function(aimarket_proto_library)
  cmake_parse_arguments(A "" "NAME;ROOT" "PROTOS;GRPC" ${ARGN})
  set(srcs)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/gen)
  file(MAKE_DIRECTORY ${out})
  foreach(proto ${A_PROTOS} ${A_GRPC})
    get_filename_component(dir ${proto} DIRECTORY)
    get_filename_component(stem ${proto} NAME_WE)
    set(gen ${out}/${dir}/${stem}.pb.cc ${out}/${dir}/${stem}.pb.h)
    set(args --cpp_out=${out})
    list(FIND A_GRPC ${proto} is_grpc)
    if(NOT is_grpc EQUAL -1)
      list(APPEND gen ${out}/${dir}/${stem}.grpc.pb.cc ${out}/${dir}/${stem}.grpc.pb.h)
      list(APPEND args --grpc_out=${out} --plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>)
    endif()
    add_custom_command(
      OUTPUT ${gen}
      COMMAND protobuf::protoc ARGS -I${A_ROOT} ${args} ${A_ROOT}/${proto}
      DEPENDS ${A_ROOT}/${proto} protobuf::protoc
      COMMENT "protoc ${proto}"
      VERBATIM)
    foreach(f ${gen})
      if(f MATCHES "\\.cc$")
        list(APPEND srcs ${f})
      endif()
    endforeach()
  endforeach()
  add_library(aimarket_${A_NAME} STATIC ${srcs})
  add_library(aimarket::${A_NAME} ALIAS aimarket_${A_NAME})
  target_include_directories(aimarket_${A_NAME} SYSTEM PUBLIC ${out})
  target_link_libraries(aimarket_${A_NAME} PUBLIC protobuf::libprotobuf gRPC::grpc++)
endfunction()
