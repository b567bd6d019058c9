"""What every app of the portal may use: it imports no app of the portal itself."""
