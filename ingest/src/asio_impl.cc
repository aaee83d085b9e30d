// The one translation unit that compiles Boost.Asio and Boost.Beast (their
// *_SEPARATE_COMPILATION mode, set for every user of tally::ingest): the other sources
// include only declarations, which keeps builds short on a small machine.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
