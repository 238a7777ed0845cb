# ASan + UBSan for the whole build when CLOAK_SANITIZE is on (scripts/test builds a
# separate tree with it for the unit tier).
if(CLOAK_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
