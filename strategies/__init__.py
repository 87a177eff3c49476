"""Strategy plug-ins shipped with ltbot; drop your own module here or name `module:Class`."""
