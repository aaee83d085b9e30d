# What `cmake --install` puts where (GNUInstallDirs), the man pages generated from each
# binary's --help (help2man), and the Debian package built from the same install (CPack):
#   cmake -B build-package -DCMAKE_INSTALL_PREFIX=/usr ... && cpack --config .../CPackConfig.cmake
# scripts/package.sh does both; tests/package/package_test.sh installs the result on a fresh
# Debian 12 under systemd.
include(GNUInstallDirs)

set(TALLY_BIN_DIR ${CMAKE_INSTALL_FULL_BINDIR})
set(TALLY_DATA_DIR ${CMAKE_INSTALL_FULL_DATADIR}/tally)
set(TALLY_DOC_DIR ${CMAKE_INSTALL_FULL_DOCDIR})
set(TALLY_CONFIG_FILE ${CMAKE_INSTALL_FULL_SYSCONFDIR}/tally/tallyd.conf)
# systemd looks for units and sysusers.d files under /usr/lib and /usr/local/lib alike.
set(TALLY_UNIT_DIR ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
set(TALLY_SYSUSERS_DIR ${CMAKE_INSTALL_PREFIX}/lib/sysusers.d)

install(TARGETS tallyd tallyctl tally-loadgen RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Man pages: help2man runs each binary's --help, so the page cannot drift from the binary (the
# version is the release's: a page that named the revision would change with every commit). tallyd is a daemon (section 8), the others commands (section 1).
find_program(HELP2MAN help2man REQUIRED)
set(TALLY_MAN_DIR ${CMAKE_BINARY_DIR}/man)
function(tally_man_page target section summary)
  set(page ${TALLY_MAN_DIR}/${target}.${section})
  add_custom_command(
    OUTPUT ${page}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${TALLY_MAN_DIR}
    COMMAND ${HELP2MAN} --no-info --section=${section} --name=${summary}
            --version-string=${PROJECT_VERSION} --output=${page} $<TARGET_FILE:${target}>
    DEPENDS ${target}
    COMMENT "Generating the man page ${target}(${section})"
    VERBATIM)
  add_custom_target(${target}_man ALL DEPENDS ${page})
  install(FILES ${page} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endfunction()
tally_man_page(tallyd 8 "the tally vote counting server")
tally_man_page(tallyctl 1 "verify, export, replay and back up a tally event log")
tally_man_page(tally-loadgen 1 "load a running tallyd with votes and report on its answers")

# systemd units and users, with the install's paths written in.
foreach(unit tallyd tallyd-cluster nats-server-tally)
  configure_file(${PROJECT_SOURCE_DIR}/deploy/systemd/${unit}.service.in
                 ${CMAKE_BINARY_DIR}/deploy/systemd/${unit}.service @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/deploy/systemd/${unit}.service DESTINATION ${TALLY_UNIT_DIR})
endforeach()
install(FILES ${PROJECT_SOURCE_DIR}/deploy/systemd/tally.sysusers DESTINATION ${TALLY_SYSUSERS_DIR}
        RENAME tally.conf)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/tallyd.conf
        DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/tally)

# The rest of deploy/ (Prometheus rules, Grafana, gateways, NATS) and the demo campaign, for
# operators to copy from; the docs.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/deploy/prometheus ${PROJECT_SOURCE_DIR}/deploy/grafana
                  ${PROJECT_SOURCE_DIR}/deploy/nginx ${PROJECT_SOURCE_DIR}/deploy/haproxy
        DESTINATION ${CMAKE_INSTALL_DATADIR}/tally/deploy)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/deploy/nats DESTINATION ${CMAKE_INSTALL_DATADIR}/tally/deploy
        USE_SOURCE_PERMISSIONS)
install(FILES ${PROJECT_SOURCE_DIR}/campaigns/demo.json
        DESTINATION ${CMAKE_INSTALL_DATADIR}/tally/campaigns)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}
        FILES_MATCHING PATTERN "*.md" PATTERN "*.json" PATTERN "*.png")
# The independent checker of published bundles and receipts: auditors copy it beside a bundle.
install(PROGRAMS ${PROJECT_SOURCE_DIR}/verifier/tally_verify.py
        DESTINATION ${CMAKE_INSTALL_DATADIR}/tally/verifier)
install(FILES ${PROJECT_SOURCE_DIR}/verifier/README.md
        DESTINATION ${CMAKE_INSTALL_DATADIR}/tally/verifier)

# The Debian package. Its dependencies are read from the binaries (dpkg-shlibdeps).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tally)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "tally")
set(CPACK_PACKAGE_CONTACT "tally maintainers <tally@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "vote counting engine for public online votes")
set(CPACK_PACKAGE_DESCRIPTION
    "tally counts the ballots of a public online vote: it checks each against the campaign's \
rules, deduplicates it by voter, makes it durable before it answers, flags vote brushing and \
keeps a tamper-evident log that tallyctl verifies.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# procps: the units reload with /bin/kill -HUP.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "init-system-helpers (>= 1.54), procps")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "nats-server, prometheus, haproxy | nginx")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/deploy/debian/postinst ${PROJECT_SOURCE_DIR}/deploy/debian/prerm
    ${PROJECT_SOURCE_DIR}/deploy/debian/postrm ${PROJECT_SOURCE_DIR}/deploy/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
include(CPack)
