/// Quality of service of an entrypoint (contract §1).
public enum QoS: String, DefinitionEnum {
    case none
    case auto
    case atMostOnce = "at-most-once"
    case atLeastOnce = "at-least-once"
}

public enum DefinitionType: String, DefinitionEnum {
    case message
    case proxy
}

public enum ListenerType: String, DefinitionEnum {
    case http
    case subscription
}

public enum LoadBalancerType: String, DefinitionEnum {
    case roundRobin = "round-robin"
    case random
    case weightedRoundRobin = "weighted-round-robin"
    case weightedRandom = "weighted-random"
}

public enum PlanSecurityType: String, DefinitionEnum {
    case keyLess = "key-less"
    case apiKey = "api-key"
    case jwt
    case oauth2
    case mtls
}

public enum PlanMode: String, DefinitionEnum {
    case standard
    case push
}

public enum PlanStatus: String, DefinitionEnum {
    case staging
    case published
    case deprecated
    case closed
}

public enum FlowExecutionMode: String, DefinitionEnum {
    case `default`
    case bestMatch = "best-match"
}

public enum PathOperator: String, DefinitionEnum {
    case startsWith = "STARTS_WITH"
    case equals = "EQUALS"
}

public enum ChannelOperation: String, DefinitionEnum {
    case subscribe
    case publish
}
