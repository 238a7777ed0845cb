#pragma once

// The topology key of Cloak volumes: a volume of the local backend is reachable from the
// node whose id is the segment's value. The node plugin reports it in NodeGetInfo; the
// controller returns it as a volume's accessible_topology.

namespace cloak::csi {

inline constexpr char kNodeTopologyKey[] = "topology.cloak.csi.dev/node";

}  // namespace cloak::csi
