"""The Pulumi side: the program, the TopicPlatform component, the guards that run at preview
(partition shrink, legacy retirement) and the optional Docker local cluster."""
