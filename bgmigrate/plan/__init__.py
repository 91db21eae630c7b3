"""Planning: rewrite an unsafe migration into expand / migrate / contract phases."""
