"""Forms, one module per screen family. Forms only validate; services write."""
