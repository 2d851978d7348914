import SluiceCore

/// Every endpoint type this build of Sluice knows.
public enum EndpointTypes {
    public static let all: [any EndpointConnectorFactory] = [MockEndpointFactory(), KafkaEndpointFactory(), MQTT5EndpointFactory(), RabbitMQEndpointFactory()]
}
