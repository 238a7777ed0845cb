# Every dependency comes from Debian 12 packages (scripts/install-deps).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenSSL 3.0 REQUIRED)
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(fmt CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(GTest CONFIG REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(yaml-cpp CONFIG REQUIRED)
pkg_check_modules(CRYPTSETUP REQUIRED IMPORTED_TARGET libcryptsetup)
pkg_check_modules(DEVMAPPER REQUIRED IMPORTED_TARGET devmapper)
pkg_check_modules(BLKID REQUIRED IMPORTED_TARGET blkid)
pkg_check_modules(P11KIT REQUIRED IMPORTED_TARGET p11-kit-1)
pkg_check_modules(TSS2 REQUIRED IMPORTED_TARGET tss2-esys tss2-mu tss2-rc tss2-tctildr)

find_program(GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

# cloak_grpc_library(NAME PROTO [DEPS ...]): compiles one .proto into a static library
# holding the protobuf messages and the gRPC stubs.
function(cloak_grpc_library name proto)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  get_filename_component(proto_abs ${proto} ABSOLUTE)
  get_filename_component(proto_dir ${proto_abs} DIRECTORY)
  get_filename_component(proto_we ${proto} NAME_WE)
  file(RELATIVE_PATH rel_dir ${CMAKE_SOURCE_DIR} ${proto_dir})
  set(out_dir ${CMAKE_BINARY_DIR}/gen/${rel_dir})
  set(outputs ${out_dir}/${proto_we}.pb.cc ${out_dir}/${proto_we}.pb.h
              ${out_dir}/${proto_we}.grpc.pb.cc ${out_dir}/${proto_we}.grpc.pb.h)
  add_custom_command(
    OUTPUT ${outputs}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/gen
    COMMAND protobuf::protoc
      --proto_path=${CMAKE_SOURCE_DIR}
      --cpp_out=${CMAKE_BINARY_DIR}/gen
      --grpc_out=${CMAKE_BINARY_DIR}/gen
      --plugin=protoc-gen-grpc=${GRPC_CPP_PLUGIN}
      ${proto_abs}
    DEPENDS ${proto_abs} protobuf::protoc
    COMMENT "Generating C++ from ${rel_dir}/${proto_we}.proto"
    VERBATIM)
  add_library(${name} STATIC ${outputs})
  target_include_directories(${name} SYSTEM PUBLIC ${CMAKE_BINARY_DIR}/gen)
  target_link_libraries(${name} PUBLIC protobuf::libprotobuf gRPC::grpc++ ${ARG_DEPS})
endfunction()

# cloak_test(NAME SOURCES... LIBS ... [LABELS ...]): one gtest binary registered in
# CTest; exit code 77 marks a test as skipped.
function(cloak_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  cloak_target_warnings(${name})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gmock GTest::gtest_main)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77 LABELS "${ARG_LABELS}"
                       ENVIRONMENT "CLOAK_SOURCE_DIR=${CMAKE_SOURCE_DIR};CLOAK_BINARY_DIR=${CMAKE_BINARY_DIR}")
endfunction()
