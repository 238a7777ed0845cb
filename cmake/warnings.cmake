# cloak_target_warnings(TARGET): warnings for Cloak's own code, fatal by default.
# Generated code (protobuf, gRPC) is compiled in targets that do not call this.
function(cloak_target_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wnon-virtual-dtor)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC only: clang (the fuzz tree) has no -Wshadow=local.
    target_compile_options(${target} PRIVATE -Wshadow=local)
  endif()
  if(CLOAK_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
