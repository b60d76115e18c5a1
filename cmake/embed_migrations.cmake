# cmake -DDIR=<deploy/migrations> -DOUT=<file.cc> -P embed_migrations.cmake
# Writes a C++ file defining aimarket::db::EmbeddedMigrations() from DIR/NNNN_name.sql.
file(GLOB files "${DIR}/*.sql")
list(SORT files)
set(body "")
foreach(f ${files})
  get_filename_component(base ${f} NAME_WE)
  if(NOT base MATCHES "^([0-9][0-9][0-9][0-9])_([a-z0-9_]+)$")
    message(FATAL_ERROR "migration file name must be NNNN_name.sql: ${f}")
  endif()
  math(EXPR version "${CMAKE_MATCH_1}")
  set(name ${CMAKE_MATCH_2})
  file(READ ${f} sql)
  string(APPEND body "      {${version}, \"${name}\", R\"aimsql(${sql})aimsql\"},\n")
endforeach()
file(WRITE ${OUT}.tmp "// Generated from deploy/migrations by cmake/embed_migrations.cmake. Do not edit.
#include \"common/db/migrations.h\"

namespace aimarket::db {

const std::vector<Migration>& EmbeddedMigrations() {
  static const std::vector<Migration>* migrations = new std::vector<Migration>{
${body}  };
  return *migrations;
}

}  // namespace aimarket::db
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
