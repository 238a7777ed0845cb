# cloak_target_warnings(TARGET): warnings for Cloak's own code, fatal by default.
# Generated code (protobuf, gRPC) is compiled in targets that do not call this.
function(cloak_target_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow=local -Wnon-virtual-dtor)
  if(CLOAK_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
