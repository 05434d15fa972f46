"""The catalogue of common mistakes: each a fixture submission and the message a student must see."""
