public enum QuantPlaceholder {}
