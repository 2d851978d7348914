import HTTPTypes

extension HTTPFields {
    /// The value of the first field with this name. The subscript's getter joins every value of
    /// the name into a new string, which costs a request on the hot paths more than the lookup.
    public func first(_ name: HTTPField.Name) -> String? {
        for field in self where field.name == name { return field.value }
        return nil
    }
}
