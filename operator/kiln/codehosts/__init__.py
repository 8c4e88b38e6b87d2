"""codehosts"""
