/// One difference between two topology snapshots.
public struct TopologyChange: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, Codable {
        case nodeAdded = "node-added"
        case nodeRemoved = "node-removed"
        case endpointChanged = "endpoint-changed"
        case roleChanged = "role-changed"
        case healthChanged = "health-changed"
        case slotsMoved = "slots-moved"
    }

    public var kind: Kind
    /// The node concerned (for moved slots: the new owner, or the old one when the slots became uncovered).
    public var nodeID: String
    public var from: String?
    public var to: String?
    /// For moved slots: `5461-10922` or `42`.
    public var slots: String?

    public init(kind: Kind, nodeID: String, from: String? = nil, to: String? = nil, slots: String? = nil) {
        self.kind = kind
        self.nodeID = nodeID
        self.from = from
        self.to = to
        self.slots = slots
    }

    public var description: String {
        let node = "node \(self.nodeID.prefix(8))"
        switch self.kind {
        case .nodeAdded: return "\(node) added at \(self.to ?? "?")"
        case .nodeRemoved: return "\(node) removed (was \(self.from ?? "?"))"
        case .endpointChanged: return "\(node) endpoint \(self.from ?? "?") -> \(self.to ?? "?")"
        case .roleChanged: return "\(node) role \(self.from ?? "?") -> \(self.to ?? "?")"
        case .healthChanged: return "\(node) health \(self.from ?? "?") -> \(self.to ?? "?")"
        case .slotsMoved: return "slots \(self.slots ?? "?") moved from \(self.from ?? "nobody") to \(self.to ?? "nobody")"
        }
    }

    /// What changed from `old` to `new`: nodes added and removed, endpoints, roles, health, and slot ranges that
    /// changed owner. Empty when nothing did; every node is "added" when there is no `old`.
    public static func diff(from old: ClusterTopology?, to new: ClusterTopology) -> [TopologyChange] {
        var changes: [TopologyChange] = []
        let before = Dictionary((old?.nodes ?? []).map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let after = Dictionary(new.nodes.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        for node in new.nodes {
            guard let previous = before[node.id] else {
                changes.append(TopologyChange(kind: .nodeAdded, nodeID: node.id, to: "\(node.announced) \(node.role.rawValue)"))
                continue
            }
            if previous.announced != node.announced {
                changes.append(TopologyChange(kind: .endpointChanged, nodeID: node.id, from: previous.announced, to: node.announced))
            }
            if previous.role != node.role {
                changes.append(TopologyChange(kind: .roleChanged, nodeID: node.id, from: previous.role.rawValue, to: node.role.rawValue))
            }
            if previous.health != node.health, let health = node.health {
                changes.append(TopologyChange(kind: .healthChanged, nodeID: node.id, from: previous.health, to: health))
            }
        }
        for node in old?.nodes ?? [] where after[node.id] == nil {
            changes.append(TopologyChange(kind: .nodeRemoved, nodeID: node.id, from: node.announced))
        }
        guard let old else { return changes }
        // Slot ranges whose owner changed, as runs of consecutive slots with the same old and new owner.
        let owners = (old.slotOwners(), new.slotOwners())
        var slot = 0
        while slot < HashSlot.count {
            let (from, to) = (owners.0[slot], owners.1[slot])
            guard from != to else {
                slot += 1
                continue
            }
            var end = slot
            while end + 1 < HashSlot.count && owners.0[end + 1] == from && owners.1[end + 1] == to { end += 1 }
            changes.append(
                TopologyChange(
                    kind: .slotsMoved, nodeID: to ?? from ?? "", from: from.map { String($0.prefix(8)) },
                    to: to.map { String($0.prefix(8)) }, slots: slot == end ? "\(slot)" : "\(slot)-\(end)"))
            slot = end + 1
        }
        return changes
    }
}
